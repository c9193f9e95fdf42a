//! Recovery: damage a store on purpose — cut the active segment at every byte offset of its
//! last records, flip bytes, delete or damage index files, tear tombstone files, leave a
//! half-created segment — and check that it opens, keeps every record before the damage, says
//! what it repaired, and keeps working.

use std::fs;
use std::path::{Path, PathBuf};

use sluice::storage::segment::{file_name, FileKind};
use sluice::{
    AddId, Config, Engine, Entry, Error, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId,
};

const NAME: &[u8] = b"orders";

fn config(dir: &Path, segment_bytes: u64) -> Config {
    config_with_interval(dir, segment_bytes, 100)
}

fn config_with_interval(dir: &Path, segment_bytes: u64, interval: u32) -> Config {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::No;
    config.segment_bytes_max = segment_bytes;
    config.index_interval_bytes = interval;
    config.entry_bytes_max = 256;
    config
}

fn entry(n: u64) -> NewEntry {
    NewEntry {
        id: AddId::Explicit(StreamId::new(n, 0)),
        fields: vec![
            (b"n".to_vec(), n.to_string().into_bytes()),
            (b"pad".to_vec(), vec![b'x'; (n % 7) as usize * 5]),
        ],
    }
}

fn expected(n: u64) -> Entry {
    let new = entry(n);
    Entry {
        id: StreamId::new(n, 0),
        fields: new.fields,
    }
}

fn all(engine: &Engine) -> Vec<Entry> {
    engine
        .range(NAME, IdRange::ALL, false, ReadLimit::count(usize::MAX))
        .unwrap()
        .unwrap_or_default()
}

/// A store holding entries 1..=count in `dir`.
fn build(dir: &Path, segment_bytes: u64, count: u64) {
    build_with(config(dir, segment_bytes), count)
}

fn build_with(config: Config, count: u64) {
    let engine = Engine::open(config).unwrap();
    for n in 1..=count {
        engine.add(NAME, &[entry(n)], false, None).unwrap();
    }
    engine.close().unwrap();
}

fn stream_dir(data: &Path) -> PathBuf {
    data.join("streams").join("s-orders")
}

fn segments(data: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = fs::read_dir(stream_dir(data))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            let (id, kind) = sluice::storage::segment::parse_file_name(&name)?;
            (kind == FileKind::Log).then_some(id)
        })
        .collect();
    ids.sort_unstable();
    ids
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Where the records of a segment log end (the preallocated zeros follow).
fn records_end(log: &[u8]) -> usize {
    record_offsets(log).last().map_or(64, |&last| {
        last + 8 + u32::from_le_bytes(log[last..last + 4].try_into().unwrap()) as usize
    })
}

/// Offsets at which the records of a segment log start.
fn record_offsets(log: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = sluice::storage::segment::HEADER_BYTES;
    while at + 8 <= log.len() {
        let len = u32::from_le_bytes(log[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break; // the preallocated zeros after the records
        }
        offsets.push(at);
        at += 8 + len;
    }
    offsets
}

/// After damage, the store must hold exactly entries 1..=kept, accept a new entry, and reopen
/// cleanly.
fn check_store(data: &Path, segment_bytes: u64, kept: u64) -> Vec<sluice::storage::repair::Repair> {
    check_store_with(config(data, segment_bytes), kept)
}

fn check_store_with(config: Config, kept: u64) -> Vec<sluice::storage::repair::Repair> {
    let data = config.data_dir.clone();
    let engine = Engine::open(config.clone()).unwrap();
    let repairs = engine.repairs().to_vec();
    let entries = all(&engine);
    let wanted: Vec<Entry> = (1..=kept).map(expected).collect();
    assert_eq!(
        entries, wanted,
        "entries after recovery (repairs: {repairs:?})"
    );
    assert_eq!(engine.len(NAME).unwrap(), kept);
    engine.add(NAME, &[entry(1_000)], false, None).unwrap();
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open(config).unwrap();
    let _ = data;
    assert!(
        engine.repairs().is_empty(),
        "second open after repair repaired again: {:?}",
        engine.repairs()
    );
    assert_eq!(engine.len(NAME).unwrap(), kept + 1);
    repairs
}

#[test]
fn cut_active_segment_at_every_offset_of_its_last_records() {
    let original = tempfile::tempdir().unwrap();
    build(original.path(), 1 << 20, 40);
    let log_path = stream_dir(original.path()).join(file_name(1, FileKind::Log));
    let log = fs::read(&log_path).unwrap();
    let offsets = record_offsets(&log);
    assert_eq!(offsets.len(), 40);
    let end = records_end(&log);
    // Every cut from the start of the 35th record to the end of the records.
    for cut in offsets[34]..=end {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(original.path(), copy.path());
        let file = fs::OpenOptions::new()
            .write(true)
            .open(stream_dir(copy.path()).join(file_name(1, FileKind::Log)))
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);
        let whole = offsets.iter().filter(|&&start| start < cut).count() as u64;
        let inside_a_record = cut < end && !offsets.contains(&cut);
        let kept = if inside_a_record { whole - 1 } else { whole };
        let repairs = check_store(copy.path(), 1 << 20, kept);
        if inside_a_record {
            assert!(
                repairs
                    .iter()
                    .any(|repair| repair.action.contains("cut after")),
                "cut at {cut} went unreported: {repairs:?}"
            );
        }
    }
}

/// Recovery re-validates the active segment from its last durable index point. With one point
/// (an interval larger than the data), that is the whole segment: a flip anywhere in its last
/// records is found at open, the records before it are kept, and the cut bytes are kept aside.
#[test]
fn flipped_byte_after_the_last_index_point_is_repaired_at_open() {
    let original = tempfile::tempdir().unwrap();
    let segment_bytes = 1 << 20;
    build_with(
        config_with_interval(original.path(), segment_bytes, 1 << 20),
        30,
    );
    let log_name = file_name(1, FileKind::Log);
    let log = fs::read(stream_dir(original.path()).join(&log_name)).unwrap();
    let offsets = record_offsets(&log);
    for damaged_record in [1usize, 27, 29] {
        let end = offsets
            .get(damaged_record + 1)
            .copied()
            .unwrap_or(records_end(&log));
        for at in offsets[damaged_record]..end {
            let copy = tempfile::tempdir().unwrap();
            copy_dir(original.path(), copy.path());
            let path = stream_dir(copy.path()).join(&log_name);
            let mut bytes = fs::read(&path).unwrap();
            bytes[at] ^= 0x20;
            fs::write(&path, &bytes).unwrap();
            let config = config_with_interval(copy.path(), segment_bytes, 1 << 20);
            let repairs = check_store_with(config, damaged_record as u64);
            assert!(!repairs.is_empty(), "flip at {at} went unreported");
            let kept_aside: Vec<_> = fs::read_dir(stream_dir(copy.path()))
                .unwrap()
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.file_name().to_string_lossy().contains(".dropped-"))
                .collect();
            assert_eq!(kept_aside.len(), 1, "the cut bytes were not kept");
            let saved = fs::read(kept_aside[0].path()).unwrap();
            // What was cut: from the damaged record to the end of the written bytes (the
            // preallocated zeros after them are not kept).
            let written = bytes.iter().rposition(|&byte| byte != 0).unwrap() + 1;
            assert!(
                saved == bytes[offsets[damaged_record]..written],
                "kept bytes differ from the {} bytes cut",
                written - offsets[damaged_record]
            );
        }
    }
}

/// Data before the last durable index point was durable when the point was written, so damage
/// there is not a crash artifact but media corruption: opening does not read it (that would
/// mean reading all data), and reads that reach it report corruption instead of returning it.
#[test]
fn flipped_byte_before_the_last_index_point_is_reported_on_read() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 1 << 20, 30);
    let path = stream_dir(data.path()).join(file_name(1, FileKind::Log));
    let pristine = fs::read(&path).unwrap();
    let offsets = record_offsets(&pristine);
    // A flipped bit in a record's content, and a record length that runs far past the data.
    let mut flipped = pristine.clone();
    flipped[offsets[10] + 12] ^= 0x20;
    let mut overlong = pristine.clone();
    overlong[offsets[10]..offsets[10] + 4].copy_from_slice(&900_000u32.to_le_bytes());
    for damaged in [overlong, flipped] {
        fs::write(&path, &damaged).unwrap();
        let engine = Engine::open(config(data.path(), 1 << 20)).unwrap();
        assert!(matches!(
            engine.range(NAME, IdRange::ALL, false, ReadLimit::count(usize::MAX)),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(
            engine.range(NAME, IdRange::ALL, true, ReadLimit::count(usize::MAX)),
            Err(Error::Corrupt { .. })
        ));
        engine.close().unwrap();
    }
    let engine = Engine::open(config(data.path(), 1 << 20)).unwrap();
    let before = engine
        .range(
            NAME,
            IdRange {
                start: StreamId::MIN,
                end: StreamId::new(9, 0),
            },
            false,
            ReadLimit::count(usize::MAX),
        )
        .unwrap()
        .unwrap();
    assert_eq!(before, (1..=9).map(expected).collect::<Vec<_>>());
}

#[test]
fn deleted_index_files_are_rebuilt() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 120);
    let ids = segments(data.path());
    assert!(ids.len() > 5, "expected many segments, got {ids:?}");
    for id in &ids {
        let path = stream_dir(data.path()).join(file_name(*id, FileKind::Index));
        if path.exists() {
            fs::remove_file(path).unwrap();
        }
    }
    let repairs = check_store(data.path(), 600, 120);
    let rebuilt = repairs
        .iter()
        .filter(|repair| repair.action.contains("rebuilt"))
        .count();
    assert_eq!(
        rebuilt,
        ids.len() - 1,
        "every sealed index rebuilt: {repairs:?}"
    );
}

#[test]
fn damaged_sealed_index_is_rebuilt_and_seeks_still_work() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 120);
    let ids = segments(data.path());
    let index = stream_dir(data.path()).join(file_name(ids[1], FileKind::Index));
    let mut bytes = fs::read(&index).unwrap();
    bytes[40] ^= 0xff;
    fs::write(&index, &bytes).unwrap();
    let repairs = check_store(data.path(), 600, 120);
    assert!(repairs.iter().any(|repair| repair.path == index));
    let engine = Engine::open(config(data.path(), 600)).unwrap();
    for start in [1u64, 17, 33, 64, 99] {
        let got = engine
            .range(
                NAME,
                IdRange {
                    start: StreamId::new(start, 0),
                    end: StreamId::new(start + 4, 0),
                },
                false,
                ReadLimit::count(100),
            )
            .unwrap()
            .unwrap();
        let wanted: Vec<Entry> = (start..=start + 4).map(expected).collect();
        assert_eq!(got, wanted);
    }
}

#[test]
fn torn_tombstone_file_keeps_the_deletions_that_made_it() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 60);
    {
        let engine = Engine::open(config(data.path(), 600)).unwrap();
        let deleted = engine
            .delete(
                NAME,
                &[
                    StreamId::new(3, 0),
                    StreamId::new(4, 0),
                    StreamId::new(58, 0),
                ],
            )
            .unwrap();
        assert_eq!(deleted, 3);
        engine.close().unwrap();
    }
    let tombstones: Vec<PathBuf> = fs::read_dir(stream_dir(data.path()))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "del"))
        .collect();
    assert!(!tombstones.is_empty());
    for path in &tombstones {
        let mut bytes = fs::read(path).unwrap();
        bytes.extend_from_slice(&[0xab; 17]);
        fs::write(path, &bytes).unwrap();
    }
    let engine = Engine::open(config(data.path(), 600)).unwrap();
    assert_eq!(
        engine.repairs().len(),
        tombstones.len(),
        "{:?}",
        engine.repairs()
    );
    assert_eq!(engine.len(NAME).unwrap(), 57);
    let ids: Vec<u64> = all(&engine).iter().map(|entry| entry.id.ms).collect();
    assert!(!ids.contains(&3) && !ids.contains(&4) && !ids.contains(&58));
    let info = engine.info(NAME, None, ReadLimit::count(10)).unwrap();
    assert_eq!(info.counters.max_deleted, StreamId::new(58, 0));
}

#[test]
fn half_created_segment_is_removed() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 50);
    let ids = segments(data.path());
    let last = *ids.last().unwrap();
    // A crash while starting segment last+1: its file exists with a partial header.
    fs::write(
        stream_dir(data.path()).join(file_name(last + 1, FileKind::Log)),
        b"SLUICESG\x01\x00",
    )
    .unwrap();
    let repairs = check_store(data.path(), 600, 50);
    assert!(
        repairs
            .iter()
            .any(|repair| repair.action.contains("segment creation cut short")),
        "{repairs:?}"
    );
}

#[test]
fn corruption_inside_a_sealed_segment_is_reported_not_returned() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 60);
    let ids = segments(data.path());
    let log = stream_dir(data.path()).join(file_name(ids[0], FileKind::Log));
    let mut bytes = fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&log, &bytes).unwrap();
    let engine = Engine::open(config(data.path(), 600)).unwrap();
    let result = engine.range(NAME, IdRange::ALL, false, ReadLimit::count(usize::MAX));
    assert!(
        matches!(result, Err(Error::Corrupt { .. })),
        "damaged data must not be returned as entries: {result:?}"
    );
    // The undamaged segments still read.
    let last_segment_first = engine
        .range(
            NAME,
            IdRange {
                start: StreamId::new(59, 0),
                end: StreamId::MAX,
            },
            false,
            ReadLimit::count(10),
        )
        .unwrap()
        .unwrap();
    assert_eq!(last_segment_first, vec![expected(59), expected(60)]);
}

#[test]
fn leftovers_of_interrupted_operations_are_cleaned() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 600, 10);
    fs::create_dir_all(data.path().join("streams/.new-7")).unwrap();
    fs::create_dir_all(data.path().join("trash/s-gone.3")).unwrap();
    fs::write(
        stream_dir(data.path()).join("00000000000000000001.idx.tmp"),
        b"x",
    )
    .unwrap();
    let repairs = check_store(data.path(), 600, 10);
    assert_eq!(repairs.len(), 3, "{repairs:?}");
    assert!(!data.path().join("streams/.new-7").exists());
    assert!(!data.path().join("trash/s-gone.3").exists());
}

/// A torn multi-page write can leave bytes beyond a stretch of zeros after the last record.
/// After a crash (no clean-shutdown marker) recovery clears the whole padding, keeping the
/// leftovers aside; appends then land on zeros again.
#[test]
fn leftovers_beyond_zeros_are_cleared_after_a_crash() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 1 << 20, 20);
    let path = stream_dir(data.path()).join(file_name(1, FileKind::Log));
    let mut bytes = fs::read(&path).unwrap();
    let end = records_end(&bytes);
    bytes[end + 5000..end + 5100].fill(0xee);
    fs::write(&path, &bytes).unwrap();
    fs::remove_file(data.path().join("CLEAN")).unwrap(); // as if the process had crashed
    let repairs = check_store(data.path(), 1 << 20, 20);
    assert!(
        repairs
            .iter()
            .any(|repair| repair.action.contains("leftovers")),
        "{repairs:?}"
    );
    let after = fs::read(&path).unwrap();
    assert_eq!(after.len(), 1 << 20, "the padding is restored");
    let end = records_end(&after);
    assert!(
        after[end..].iter().all(|&byte| byte == 0),
        "leftovers remain in the padding"
    );
}

/// Recovery reads the active segment's tail in windows. Records of 64 bytes make a window end
/// exactly on a record boundary (and batches of several records end inside one): the scan must
/// read on, not take the window's end for the end of the records. With the index gone (as
/// after a power cut, since the active index is never synced) the whole segment is scanned.
#[test]
fn window_boundaries_do_not_end_the_records() {
    for batch in [1usize, 3] {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::new(data.path());
        config.fsync = FsyncPolicy::No;
        let entry = |n: u64| NewEntry {
            id: AddId::Explicit(StreamId::new(n, 0)),
            // 29 bytes of framing and ID, 8 of lengths, 27 of name and value: 64 bytes.
            fields: vec![(b"n".to_vec(), format!("{n:026}").into_bytes())],
        };
        assert_eq!(sluice::storage::record::encoded_len(&entry(1).fields), 64);
        {
            let engine = Engine::open(config.clone()).unwrap();
            for first in (1..=3000u64).step_by(batch) {
                let entries: Vec<NewEntry> = (first..first + batch as u64).map(entry).collect();
                engine.add(NAME, &entries, false, None).unwrap();
            }
            engine.close().unwrap();
        }
        fs::remove_file(stream_dir(data.path()).join(file_name(1, FileKind::Index))).unwrap();
        fs::remove_file(data.path().join("CLEAN")).unwrap();
        let engine = Engine::open(config).unwrap();
        assert_eq!(
            engine.len(NAME).unwrap(),
            3000,
            "batches of {batch}: {:?}",
            engine.repairs()
        );
        let last = engine
            .range(NAME, IdRange::ALL, true, ReadLimit::count(1))
            .unwrap()
            .unwrap();
        assert_eq!(last[0].id, StreamId::new(3000, 0));
    }
}

/// Records are judged by the format's limits, not by today's `entry_bytes_max`: lowering it
/// must not make recovery cut, or reads refuse, entries written under a larger one.
#[test]
fn lowering_entry_bytes_max_keeps_larger_entries() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::new(data.path());
    config.fsync = FsyncPolicy::No;
    let big = NewEntry {
        id: AddId::Explicit(StreamId::new(5, 0)),
        fields: vec![(b"big".to_vec(), vec![b'x'; 200_000])],
    };
    {
        let engine = Engine::open(config.clone()).unwrap();
        engine
            .add(NAME, &[entry(1), big.clone()], false, None)
            .unwrap();
        engine.close().unwrap();
    }
    config.entry_bytes_max = 64 << 10;
    for after_crash in [false, true] {
        if after_crash {
            let _ = fs::remove_file(data.path().join("CLEAN"));
        }
        let engine = Engine::open(config.clone()).unwrap();
        assert!(engine.repairs().is_empty(), "{:?}", engine.repairs());
        let entries = all(&engine);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].fields, big.fields);
        engine.close().unwrap();
    }
}

/// A stream that cannot be opened does not keep the others from being served: it is
/// quarantined, its files untouched, and every call on its name reports why.
#[test]
fn an_unopenable_stream_is_quarantined_not_fatal() {
    let data = tempfile::tempdir().unwrap();
    build(data.path(), 1 << 20, 5);
    {
        let engine = Engine::open(config(data.path(), 1 << 20)).unwrap();
        engine.add(b"healthy", &[entry(1)], false, None).unwrap();
        engine.close().unwrap();
    }
    let log = stream_dir(data.path()).join(file_name(1, FileKind::Log));
    let mut bytes = fs::read(&log).unwrap();
    bytes[0] ^= 0xff; // the header's magic: nothing says how to read this file
    fs::write(&log, &bytes).unwrap();
    let engine = Engine::open(config(data.path(), 1 << 20)).unwrap();
    assert_eq!(engine.len(b"healthy").unwrap(), 1);
    assert!(matches!(engine.len(NAME), Err(Error::Corrupt { .. })));
    assert!(matches!(
        engine.add(NAME, &[entry(9)], false, None),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        engine.drop_stream(NAME),
        Err(Error::Corrupt { .. })
    ));
    drop(engine);
    assert_eq!(
        fs::read(&log).unwrap(),
        bytes,
        "the quarantined files were touched"
    );
}

/// A range read from a view taken before a whole-segment trim reads the stream as it is now,
/// without a hole. (The race this guards, a read holding one trimmed segment's map while the
/// next ones vanish, needs a trim to land between two segments of one read; this checks the
/// stale view's read is whole and current.)
#[test]
fn a_read_racing_a_trim_has_no_hole() {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path(), 600);
    config.open_files_max = 4; // the trimmed segments are not all kept mapped
    {
        let engine = Engine::open(config.clone()).unwrap();
        for n in 1..=60 {
            engine.add(NAME, &[entry(n)], false, None).unwrap();
        }
        engine.close().unwrap();
    }
    let engine = Engine::open(config).unwrap();
    let stream = engine.stream(NAME).unwrap().unwrap();
    let before = stream.view();
    // The first segment stays mapped (readable after its files are removed); the next ones,
    // never read, are not.
    let first = IdRange {
        start: StreamId::MIN,
        end: StreamId::new(2, 0),
    };
    engine
        .range(NAME, first, false, ReadLimit::count(10))
        .unwrap();
    // Exact: whole segments go first, then tombstones in the one the cut falls in.
    let spec = sluice::TrimSpec {
        strategy: sluice::TrimStrategy::MaxLen(20),
        approx: false,
        limit: 0,
    };
    assert!(engine.trim(NAME, &spec).unwrap() > 0);
    let now = all(&engine);
    let read = stream
        .log()
        .range(&before, IdRange::ALL, false, ReadLimit::count(usize::MAX))
        .unwrap();
    let ids = |entries: &[Entry]| entries.iter().map(|entry| entry.id.ms).collect::<Vec<_>>();
    let read_ids = ids(&read);
    assert!(
        read_ids.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "a hole: {read_ids:?}"
    );
    assert_eq!(read_ids.last(), ids(&now).last());
}
