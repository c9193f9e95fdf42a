//! `sluice check`: stores built with the engine and damaged on purpose — a flipped byte in a
//! sealed segment, a torn active tail, wrong and damaged index points, damaged tombstones, a
//! damaged segment header, a damaged group journal header and frames, a damaged snapshot — are
//! checked: exactly that damage is found, judged as the server's recovery judges it (warning
//! when opening repairs it, damage otherwise), and nothing is changed; `--repair` then leaves a
//! store that checks clean and opens with everything before the damage. Also: a clean store is
//! sound, a directory in use is refused, and the real binary's exit codes and output.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice::check::{self, CheckError, Fix, Level, Problem, Report};
use sluice::engine::ReadGroup;
use sluice::model::{GroupPolicy, GroupStart, GroupTarget, ReadOptions};
use sluice::storage::index::{self, IndexPoint, Slot};
use sluice::storage::segment::{file_name, FileKind, HEADER_BYTES};
use sluice::{AddId, Config, Engine, Entry, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const NAME: &[u8] = b"orders";
const OTHER: &[u8] = b"other";
const GROUP: &[u8] = b"workers";
const SEGMENT_BYTES: u64 = 600;

/// Taken by every test: the tests run one at a time. A child process spawned by one test holds
/// copies of all this process's descriptors until it executes its program, so it can hold
/// another test's data-directory lock (an flock) a moment after that test's engine let go.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn config(dir: &Path) -> Config {
    config_with(dir, SEGMENT_BYTES)
}

fn config_with(dir: &Path, segment_bytes: u64) -> Config {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::No;
    config.segment_bytes_max = segment_bytes;
    config.index_interval_bytes = 100;
    config.entry_bytes_max = 256;
    config
}

fn entry(n: u64) -> NewEntry {
    NewEntry {
        id: AddId::Explicit(StreamId::new(n, 0)),
        fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
    }
}

fn expected(n: u64) -> Entry {
    Entry {
        id: StreamId::new(n, 0),
        fields: entry(n).fields,
    }
}

fn all(engine: &Engine, name: &[u8]) -> Vec<Entry> {
    engine
        .range(name, IdRange::ALL, false, ReadLimit::count(usize::MAX))
        .expect("a range")
        .unwrap_or_default()
}

/// A store with entries 1..=count in `orders` (several segments) and 3 in `other`.
fn build(dir: &Path, count: u64) {
    build_with(config(dir), count);
}

fn build_with(config: Config, count: u64) {
    let engine = Engine::open(config).expect("the engine opens");
    for n in 1..=count {
        engine.add(NAME, &[entry(n)], false, None).expect("an add");
    }
    for n in 1..=3 {
        engine.add(OTHER, &[entry(n)], false, None).expect("an add");
    }
    engine.close().expect("a clean close");
}

fn stream_dir(data: &Path) -> PathBuf {
    data.join("streams").join("s-orders")
}

fn log_path(data: &Path, segment: u64) -> PathBuf {
    stream_dir(data).join(file_name(segment, FileKind::Log))
}

/// Offsets at which the records of a segment log start.
fn record_offsets(log: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = HEADER_BYTES;
    while at + 8 <= log.len() {
        let len = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        offsets.push(at);
        at += 8 + len;
    }
    offsets
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("a directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), fs::read(&path).expect("a file"));
        }
    }
    files
}

/// Checks `data`, asserting the check changed nothing.
fn check_unchanged(data: &Path) -> Report {
    let before = snapshot(data);
    let report = check::check(data).expect("the check runs");
    assert!(snapshot(data) == before, "the check changed files");
    report
}

/// The report's warnings and damage (information left out).
fn findings(report: &Report) -> Vec<&Problem> {
    report
        .all_problems()
        .filter(|problem| problem.level > Level::Info)
        .collect()
}

/// The report's one warning or damage (there must be exactly one).
fn one_finding(report: &Report) -> &Problem {
    let found = findings(report);
    assert_eq!(found.len(), 1, "{report}");
    found[0]
}

/// Repairs `data`; the store must then check sound, with no warning or damage left.
fn repair(data: &Path) -> check::RepairOutcome {
    repair_with(config(data))
}

fn repair_with(config: Config) -> check::RepairOutcome {
    let outcome = check::repair(config).expect("the repair runs");
    assert!(
        findings(&outcome.after).is_empty(),
        "left after repair:\n{}",
        outcome.after
    );
    outcome
}

#[test]
fn a_clean_store_is_sound_and_its_figures_are_right() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    {
        let engine = Engine::open(config(data.path())).expect("the engine opens");
        engine
            .delete(NAME, &[StreamId::new(3, 0), StreamId::new(40, 0)])
            .expect("XDEL");
        create_group(&engine);
        engine.close().expect("a clean close");
    }
    let report = check_unchanged(data.path());
    assert!(report.is_sound(), "{report}");
    assert!(findings(&report).is_empty(), "{report}");
    assert!(report.clean_shutdown);
    assert_eq!(report.streams.len(), 2);
    let orders = &report.streams[0];
    assert_eq!(orders.name.as_deref(), Some(NAME));
    assert!(orders.segments > 3, "{orders}");
    assert_eq!(
        (orders.records, orders.entries, orders.deleted),
        (40, 38, 2)
    );
    assert_eq!(orders.first_id, Some(StreamId::new(1, 0)));
    assert_eq!(orders.last_id, Some(StreamId::new(39, 0)));
    assert_eq!(orders.groups, 1);
    assert!(
        report.to_string().ends_with("checked 2 streams: OK"),
        "{report}"
    );
}

#[test]
fn a_flipped_byte_in_a_sealed_segment_is_damage_and_repair_cuts_there() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    let path = log_path(data.path(), 1);
    let mut bytes = fs::read(&path).expect("segment 1");
    let offsets = record_offsets(&bytes);
    assert!(
        offsets.len() > 3,
        "segment 1 holds {} records",
        offsets.len()
    );
    let damaged = 2;
    bytes[offsets[damaged] + 12] ^= 0x20;
    fs::write(&path, &bytes).expect("segment 1");

    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!(found.level, Level::Damage);
    assert_eq!(found.path, path);
    assert_eq!(found.offset, Some(offsets[damaged] as u64));
    assert!(found.what.contains("checksum"), "{}", found.what);
    assert_eq!(
        found.fix,
        Some(Fix::CutLog {
            at: offsets[damaged] as u64
        })
    );
    assert_eq!(report.damaged(), 1);
    assert!(
        report.to_string().ends_with("checked 2 streams: 1 damaged"),
        "{report}"
    );

    let outcome = repair(data.path());
    assert_eq!(
        outcome.actions.iter().filter(|a| a.path == path).count(),
        1,
        "{:?}",
        outcome.actions
    );
    let aside: Vec<_> = fs::read_dir(stream_dir(data.path()))
        .expect("the stream's directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|kept| kept.to_string_lossy().contains(".log.dropped-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        fs::read(&aside[0]).expect("the kept bytes"),
        bytes[offsets[damaged]..]
    );
    assert!(
        outcome
            .after
            .all_problems()
            .any(|problem| problem.path == aside[0] && problem.level == Level::Info),
        "the kept bytes are not reported:\n{}",
        outcome.after
    );

    let engine = Engine::open(config(data.path())).expect("the engine opens");
    let lost = (damaged + 1..=offsets.len())
        .map(|n| n as u64)
        .collect::<Vec<_>>();
    let wanted: Vec<Entry> = (1..=40)
        .filter(|n| !lost.contains(n))
        .map(expected)
        .collect();
    assert_eq!(all(&engine, NAME), wanted, "lost {lost:?}");
    assert_eq!(
        all(&engine, OTHER),
        (1..=3).map(expected).collect::<Vec<_>>()
    );
}

#[test]
fn a_torn_active_tail_is_a_warning_the_server_repairs() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    let active = *segment_ids(data.path()).last().expect("segments");
    let path = log_path(data.path(), active);
    let bytes = fs::read(&path).expect("the active segment");
    let offsets = record_offsets(&bytes);
    let last = *offsets.last().expect("records in the active segment");
    let torn = last as u64 + 10;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(torn))
        .expect("a cut");
    fs::remove_file(data.path().join("CLEAN")).expect("as after a crash");

    let report = check_unchanged(data.path());
    assert!(
        report.is_sound(),
        "a torn tail is the server's to repair:\n{report}"
    );
    let found = one_finding(&report);
    assert_eq!(
        (found.level, &found.path, found.offset),
        (Level::Warning, &path, Some(last as u64))
    );
    assert_eq!(found.fix, None);

    let outcome = repair(data.path());
    assert!(
        outcome
            .recovery
            .iter()
            .any(|r| r.path == path && r.action.contains("cut")),
        "{:?}",
        outcome.recovery
    );
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(
        all(&engine, NAME),
        (1..=39).map(expected).collect::<Vec<_>>()
    );
}

/// Damage in the active segment before records that a durable index point vouches for is not
/// a torn write: the server does not see it at open, and reads reaching it fail.
#[test]
fn a_flipped_byte_before_an_active_index_point_is_damage() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    let config = config_with(data.path(), 1 << 20);
    build_with(config.clone(), 40);
    let path = log_path(data.path(), 1);
    let index = stream_dir(data.path()).join(file_name(1, FileKind::Index));
    let points = index::parse(&fs::read(&index).expect("the active index")).points;
    assert!(points.len() >= 2, "{points:?}");
    let mut bytes = fs::read(&path).expect("the active segment");
    let offsets = record_offsets(&bytes);
    assert_eq!(offsets.len(), 40);
    bytes[offsets[5] + 10] ^= 0x01;
    fs::write(&path, &bytes).expect("the active segment");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    let at = offsets[5] as u64;
    assert_eq!(
        (found.level, &found.path, found.offset),
        (Level::Damage, &path, Some(at))
    );
    assert_eq!(found.fix, Some(Fix::CutLog { at }));

    let engine = Engine::open(config.clone()).expect("the engine opens");
    assert!(
        engine
            .range(NAME, IdRange::ALL, false, ReadLimit::count(usize::MAX))
            .is_err(),
        "the server does not see the damage at open; reads reaching it fail"
    );
    engine.close().expect("a clean close");
    drop(engine);
    repair_with(config.clone());
    let engine = Engine::open(config).expect("the engine opens");
    assert_eq!(
        all(&engine, NAME),
        (1..=5).map(expected).collect::<Vec<_>>()
    );
}

fn segment_ids(data: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = fs::read_dir(stream_dir(data))
        .expect("the stream's directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let (id, kind) = sluice::storage::segment::parse_file_name(&name)?;
            (kind == FileKind::Log).then_some(id)
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_wrong_index_point_is_damage_and_a_torn_one_a_warning() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    let path = stream_dir(data.path()).join(file_name(1, FileKind::Index));
    let pristine = fs::read(&path).expect("index 1");
    let parsed = index::parse(&pristine);
    assert!(parsed.points.len() >= 2 && parsed.trailer.is_some());

    // A point with a valid checksum that names the wrong ID: the server trusts it.
    let mut wrong = pristine.clone();
    let point = parsed.points[1];
    let moved = IndexPoint {
        id: StreamId::new(point.id.ms, 7),
        ..point
    };
    wrong[32..64].copy_from_slice(&moved.encode());
    assert!(matches!(
        index::decode_slot(&wrong[32..64]),
        Some(Slot::Point(_))
    ));
    fs::write(&path, &wrong).expect("index 1");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Damage, &path));
    assert_eq!(found.fix, Some(Fix::SetIndexAside));

    // A point whose checksum fails: the server rebuilds the index itself.
    let mut torn = pristine.clone();
    torn[40] ^= 0x01;
    fs::write(&path, &torn).expect("index 1");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Warning, &path));

    fs::write(&path, &wrong).expect("index 1");
    repair(data.path());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(
        all(&engine, NAME),
        (1..=40).map(expected).collect::<Vec<_>>()
    );
    let from_point = engine
        .range(
            NAME,
            IdRange {
                start: point.id,
                end: StreamId::MAX,
            },
            false,
            ReadLimit::count(1),
        )
        .expect("a seek")
        .expect("the stream");
    assert_eq!(from_point, vec![expected(point.id.ms)]);
}

#[test]
fn a_damaged_tombstone_with_valid_ones_after_it_is_damage() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    {
        let engine = Engine::open(config(data.path())).expect("the engine opens");
        for n in [1, 2, 3] {
            engine.delete(NAME, &[StreamId::new(n, 0)]).expect("XDEL");
        }
        engine.close().expect("a clean close");
    }
    let path = stream_dir(data.path()).join(file_name(1, FileKind::Deletions));
    let mut bytes = fs::read(&path).expect("tombstones of segment 1");
    assert_eq!(bytes.len(), 3 * 40);
    bytes[4] ^= 0x01; // the first slot, deleting entry 1
    fs::write(&path, &bytes).expect("tombstones");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!(
        (found.level, &found.path, found.offset),
        (Level::Damage, &path, Some(0))
    );
    assert_eq!(found.fix, Some(Fix::KeepValidTombstones));

    repair(data.path());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    let wanted: Vec<Entry> = [1].into_iter().chain(4..=40).map(expected).collect();
    assert_eq!(
        all(&engine, NAME),
        wanted,
        "only the damaged deletion is undone"
    );
    drop(engine);

    // A torn last slot is a crash's doing: a warning.
    let mut torn = fs::read(&path).expect("tombstones");
    torn.extend_from_slice(&[7; 17]);
    fs::write(&path, &torn).expect("tombstones");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, found.offset), (Level::Warning, Some(80)));
}

#[test]
fn a_damaged_segment_header_is_quarantine_and_repair_derives_it() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    let path = log_path(data.path(), 2);
    let mut bytes = fs::read(&path).expect("segment 2");
    bytes[0] ^= 0xff;
    fs::write(&path, &bytes).expect("segment 2");
    {
        let engine = Engine::open(config(data.path())).expect("the engine opens");
        assert!(
            engine.len(NAME).is_err(),
            "the server quarantines the stream"
        );
        engine.close().expect("a clean close");
    }
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!(
        (found.level, &found.path, found.offset),
        (Level::Damage, &path, Some(0))
    );
    assert!(matches!(found.fix, Some(Fix::WriteHeader(_))));

    let outcome = repair(data.path());
    assert!(outcome
        .actions
        .iter()
        .any(|a| a.path == path && a.action.contains("header")));
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(
        all(&engine, NAME),
        (1..=40).map(expected).collect::<Vec<_>>()
    );
    assert_eq!(engine.len(NAME).expect("XLEN"), 40);
}

/// A store whose `orders` has a group with deliveries and acks; returns the pending IDs.
fn build_with_group(data: &Path, journal_bytes_min: u64) -> Vec<StreamId> {
    build(data, 20);
    let mut config = config(data);
    config.group_journal_bytes_min = journal_bytes_min;
    let engine = Engine::open(config).expect("the engine opens");
    create_group(&engine);
    for _ in 0..4 {
        let read = engine
            .read_group(&ReadGroup {
                group: GROUP.to_vec(),
                consumer: b"alice".to_vec(),
                streams: vec![(NAME.to_vec(), GroupStart::New)],
                options: ReadOptions {
                    count: 4,
                    ..ReadOptions::default()
                },
                limit: ReadLimit::count(100),
            })
            .expect("a group read");
        let ids: Vec<StreamId> = read
            .streams
            .into_iter()
            .flat_map(|(_, r)| r.deliveries)
            .map(|d| d.id)
            .collect();
        engine.ack(NAME, GROUP, &ids[..2]).expect("an ack");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_bytes_min < 1 << 20 && group_files(data, "snap").is_empty() {
        assert!(Instant::now() < deadline, "no snapshot was written");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pending = pending_ids(&engine);
    engine.close().expect("a clean close");
    pending
}

fn pending_ids(engine: &Engine) -> Vec<StreamId> {
    let query = sluice::model::PendingQuery {
        start: StreamId::MIN,
        end: StreamId::MAX,
        count: usize::MAX,
        consumer: None,
        min_idle_ms: 0,
    };
    engine
        .pending(NAME, GROUP, &query)
        .expect("XPENDING")
        .into_iter()
        .map(|entry| entry.id)
        .collect()
}

fn group_files(data: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(stream_dir(data))
        .expect("the stream's directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    files.sort();
    files
}

#[test]
fn damaged_group_journals_are_judged_as_opening_judges_them() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    let pending = build_with_group(data.path(), 4 << 20);
    assert_eq!(pending.len(), 8);
    let journal = group_files(data.path(), "jnl").pop().expect("a journal");
    let pristine = fs::read(&journal).expect("the journal");

    // A damaged header on a journal with records: the server quarantines the stream.
    let mut bytes = pristine.clone();
    bytes[13] ^= 0x01;
    fs::write(&journal, &bytes).expect("the journal");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Damage, &journal));
    assert!(matches!(found.fix, Some(Fix::WriteJournalHeader { .. })));
    repair(data.path());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(
        pending_ids(&engine),
        pending,
        "the group state is whole again"
    );
    engine.close().expect("a clean close");
    drop(engine);

    // A frame with a valid checksum whose records do not decode: quarantine too.
    let mut bytes = fs::read(&journal).expect("the journal");
    let end = sluice::storage::journal::read_frames(&bytes).end as usize;
    let mut frame = Vec::new();
    sluice::storage::journal::encode_frame(&mut frame, &[9, 9, 9]).expect("a frame");
    bytes[end..end + frame.len()].copy_from_slice(&frame);
    fs::write(&journal, &bytes).expect("the journal");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!(
        (found.level, found.offset),
        (Level::Damage, Some(end as u64))
    );
    assert_eq!(found.fix, Some(Fix::CutJournal { at: end as u64 }));
    repair(data.path());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(pending_ids(&engine), pending);
    engine.close().expect("a clean close");
    drop(engine);

    // A flipped byte in the last frame: a torn append, which opening cuts.
    let mut bytes = fs::read(&journal).expect("the journal");
    let end = sluice::storage::journal::read_frames(&bytes).end as usize;
    bytes[end - 3] ^= 0x01;
    fs::write(&journal, &bytes).expect("the journal");
    let report = check_unchanged(data.path());
    assert!(report.is_sound(), "{report}");
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Warning, &journal));
}

/// Damage in a journal that a later journal with records follows is not a torn append: the
/// server quarantines the stream; the repair cuts the journal there.
#[test]
fn a_damaged_frame_before_a_later_journal_is_damage() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build_with_group(data.path(), 4 << 20);
    let first = group_files(data.path(), "jnl").pop().expect("journal 1");
    let mut bytes = fs::read(&first).expect("journal 1");
    let frames = sluice::storage::journal::read_frames(&bytes);
    let (last, body) = frames.bodies.last().cloned().expect("frames");
    let second = stream_dir(data.path()).join(sluice::storage::journal::file_name(
        2,
        sluice::storage::journal::JournalFile::Journal,
    ));
    let fs_seam = sluice::storage::fs::RealFs;
    sluice::storage::journal::start_journal(&fs_seam, &second, 2, true).expect("journal 2");
    let mut frame = Vec::new();
    sluice::storage::journal::encode_frame(&mut frame, &body).expect("a frame");
    let mut later = fs::read(&second).expect("journal 2");
    later[24..24 + frame.len()].copy_from_slice(&frame);
    fs::write(&second, &later).expect("journal 2");
    bytes[last as usize + 9] ^= 0x01;
    fs::write(&first, &bytes).expect("journal 1");

    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!(
        (found.level, &found.path, found.offset),
        (Level::Damage, &first, Some(last))
    );
    assert_eq!(found.fix, Some(Fix::CutJournal { at: last }));
    {
        let engine = Engine::open(config(data.path())).expect("the engine opens");
        assert!(
            engine.len(NAME).is_err(),
            "the server quarantines the stream"
        );
        engine.close().expect("a clean close");
    }
    repair(data.path());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(engine.len(NAME).expect("XLEN"), 20);
}

#[test]
fn a_damaged_snapshot_is_damage_and_set_aside() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build_with_group(data.path(), 256);
    let snapshot = group_files(data.path(), "snap").pop().expect("a snapshot");
    let mut bytes = fs::read(&snapshot).expect("the snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&snapshot, &bytes).expect("the snapshot");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Damage, &snapshot));
    assert_eq!(found.fix, Some(Fix::SetSnapshotAside));
    repair(data.path());
    assert!(!snapshot.exists());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(engine.len(NAME).expect("XLEN"), 20);
}

#[test]
fn a_directory_in_use_is_refused() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    engine.add(NAME, &[entry(1)], false, None).expect("an add");
    assert!(matches!(
        check::check(data.path()),
        Err(CheckError::Locked(_))
    ));
    assert!(matches!(
        check::repair(config(data.path())),
        Err(CheckError::Locked(_))
    ));
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("sluice check runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
    drop(engine);
    assert!(check::check(data.path()).is_ok());
}

fn run_binary(data: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check")
        .args(extra)
        .env("SLUICE_DATA_DIR", data)
        .env_remove("SLUICE_CHECK_REPAIR")
        .output()
        .expect("sluice check runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout)
}

#[test]
fn the_binary_exits_by_what_it_finds_and_repairs() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 40);
    let (code, stdout) = run_binary(data.path(), &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("stream \"orders\": ok"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("checked 2 streams: OK"),
        "{stdout}"
    );

    let path = log_path(data.path(), 2);
    let mut bytes = fs::read(&path).expect("segment 2");
    let offsets = record_offsets(&bytes);
    bytes[offsets[1] + 20] ^= 0x04;
    fs::write(&path, &bytes).expect("segment 2");
    let (code, stdout) = run_binary(data.path(), &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("stream \"orders\": DAMAGED"), "{stdout}");
    let line = format!(
        "damage  streams/s-orders/{} @{}",
        file_name(2, FileKind::Log),
        offsets[1]
    );
    assert!(stdout.contains(&line), "no {line:?} in {stdout}");
    assert!(
        stdout.trim_end().ends_with("checked 2 streams: 1 damaged"),
        "{stdout}"
    );

    let repair_by_env = |value: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["check", "--segment-bytes-max", "600"])
            .env("SLUICE_DATA_DIR", data.path())
            .env("SLUICE_CHECK_REPAIR", value)
            .output()
            .expect("sluice check runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout)
    };
    let (code, stdout) = repair_by_env("0");
    assert_eq!(code, Some(1), "SLUICE_CHECK_REPAIR=0 repaired: {stdout}");
    let (code, stdout) = repair_by_env("1");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("repaired:"), "{stdout}");
    assert!(
        stdout.contains(&format!("cut after {} bytes", offsets[1])),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("checked 2 streams: OK"),
        "{stdout}"
    );
    let (code, stdout) = run_binary(data.path(), &[]);
    assert_eq!(code, Some(0), "{stdout}");

    let missing = data.path().join("nowhere");
    let (code, _) = run_binary(&missing, &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn a_damaged_retention_policy_file_is_damage_and_a_sound_one_is_not() {
    let _serial = serial();
    let data = tempfile::tempdir().expect("a temporary directory");
    build(data.path(), 5);
    {
        let engine = Engine::open(config(data.path())).expect("the engine opens");
        let policy = sluice::model::Retention {
            max_len: Some(1000),
            ..Default::default()
        };
        engine.set_retention(NAME, policy).expect("XRETENTION SET");
        engine.close().expect("close");
    }
    let report = check_unchanged(data.path());
    assert!(findings(&report).is_empty(), "{report}");

    let file = stream_dir(data.path()).join("retention");
    let mut bytes = fs::read(&file).expect("the policy file");
    bytes[20] ^= 0x01;
    fs::write(&file, &bytes).expect("the policy file");
    let report = check_unchanged(data.path());
    let found = one_finding(&report);
    assert_eq!((found.level, &found.path), (Level::Damage, &file));
    assert_eq!(found.fix, Some(Fix::SetRetentionAside));
    assert!(Engine::open(config(data.path()))
        .expect("the engine opens")
        .len(NAME)
        .is_err());

    repair(data.path());
    assert!(!file.exists());
    let engine = Engine::open(config(data.path())).expect("the engine opens");
    assert_eq!(engine.len(NAME).expect("XLEN"), 5);
    assert_eq!(engine.retention(NAME).expect("XRETENTION GET"), None);
}

/// Creates group [`GROUP`] on [`NAME`], reading from the start, with no policy.
fn create_group(engine: &Engine) {
    engine
        .create_group(
            NAME,
            GROUP,
            GroupTarget::Id(StreamId::MIN),
            false,
            None,
            GroupPolicy::default(),
        )
        .expect("a group");
}
