//! Ten thousand streams on a small handle budget: every stream works, the process never holds
//! more descriptors than the budget (plus a constant), and the store reopens with all of them.

use std::path::Path;

use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const STREAMS: u64 = 10_000;
const HANDLES: usize = 64;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::No;
    config.open_files_max = HANDLES;
    config
}

fn name(n: u64) -> Vec<u8> {
    format!("tenant:{n}:events").into_bytes()
}

#[test]
fn ten_thousand_streams_within_the_descriptor_budget() {
    let data = tempfile::tempdir().unwrap();
    let baseline = open_descriptors();
    let engine = Engine::open(config(data.path())).unwrap();
    let mut peak = 0;
    for round in 0..2u64 {
        for n in 0..STREAMS {
            let entry = NewEntry {
                id: AddId::Explicit(StreamId::new(round + 1, n)),
                fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
            };
            engine.add(&name(n), &[entry], false, None).unwrap();
            if n % 500 == 0 {
                peak = peak.max(open_descriptors());
            }
        }
    }
    for n in (0..STREAMS).step_by(7) {
        let entries = engine
            .range(&name(n), IdRange::ALL, false, ReadLimit::count(10))
            .unwrap()
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].fields[0].1, n.to_string().into_bytes());
    }
    peak = peak.max(open_descriptors());
    assert!(
        peak <= baseline + HANDLES + 16,
        "{peak} descriptors open with a budget of {HANDLES} (baseline {baseline})"
    );
    assert!(engine.open_handles() <= HANDLES);
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(config(data.path())).unwrap();
    assert!(engine.repairs().is_empty());
    assert_eq!(engine.list(None).len(), STREAMS as usize);
    assert_eq!(engine.list(Some(b"tenant:99*")).len(), 111);
    for n in (0..STREAMS).step_by(997) {
        assert_eq!(engine.len(&name(n)).unwrap(), 2);
    }
    assert!(open_descriptors() <= baseline + HANDLES + 16);
}
