//! Crash: a child process appends with fsync `always` from several threads (so group commit is
//! in play) and prints each acknowledged ID; the parent SIGKILLs it at a random moment, reopens
//! the store, and checks the promises: every acknowledged ID is there with its exact fields,
//! IDs strictly increase, nothing is duplicated, and every entry present was really written.
//! Rounds continue on the same store, so recovery runs on stores that recovery produced.
//!
//! `SLUICE_CRASH_ROUNDS=n` sets the number of kill rounds (default 6).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const NAME: &[u8] = b"crash";
const CHILD_ENV: &str = "SLUICE_CRASH_CHILD_DIR";

fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::Always;
    config.segment_bytes_max = 64 << 10;
    config.index_interval_bytes = 512;
    config.entry_bytes_max = 4096;
    config
}

/// The fields of the entry a writer adds as its `n`-th: derivable from the text alone.
fn fields_for(tag: &str) -> Vec<sluice::Field> {
    let pad = tag.len() * 7 % 200;
    vec![
        (b"tag".to_vec(), tag.as_bytes().to_vec()),
        (b"pad".to_vec(), vec![b'#'; pad]),
    ]
}

/// Runs only as the child: appends until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var("SLUICE_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let engine = Arc::new(Engine::open(config(Path::new(&dir))).unwrap());
    println!("READY");
    let threads: Vec<_> = (0..4u64)
        .map(|worker| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                for n in 0.. {
                    let tag = format!("{round}.{worker}.{n}");
                    let batch = n % 5 == 4;
                    let entries: Vec<NewEntry> = if batch {
                        (0..3)
                            .map(|part| NewEntry {
                                id: AddId::Auto,
                                fields: fields_for(&format!("{tag}.{part}")),
                            })
                            .collect()
                    } else {
                        vec![NewEntry {
                            id: AddId::Auto,
                            fields: fields_for(&tag),
                        }]
                    };
                    let ids = engine.add(NAME, &entries, false, None).unwrap().unwrap();
                    for (id, entry) in ids.iter().zip(&entries) {
                        let tag = String::from_utf8_lossy(&entry.fields[0].1).to_string();
                        println!("ACK {id} {tag}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let rounds: u64 = std::env::var("SLUICE_CRASH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(6);
    let data = tempfile::tempdir().unwrap();
    let mut acknowledged: BTreeMap<StreamId, String> = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, data.path())
            .env("SLUICE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut ready = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.ends_with("READY") {
                    ready = true;
                }
                // A line cut by the kill is not an acknowledgement.
                let parts: Vec<&str> = line.split(' ').collect();
                if let ["ACK", id, tag] = parts[..] {
                    if tag.split('.').count() >= 3 {
                        acked.push((id.parse::<StreamId>().unwrap(), tag.to_string()));
                    }
                }
            }
            (ready, acked)
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (ready, acked) = reader.join().unwrap();
        assert!(ready, "round {round}: the child never opened the store");
        for (id, tag) in acked {
            assert!(
                acknowledged.insert(id, tag).is_none(),
                "round {round}: ID {id} acknowledged twice"
            );
        }

        let engine = Engine::open(config(data.path())).unwrap();
        let entries = engine
            .range(NAME, IdRange::ALL, false, ReadLimit::count(usize::MAX))
            .unwrap()
            .unwrap_or_default();
        let mut previous = StreamId::MIN;
        let mut tags = HashSet::new();
        let present: BTreeMap<StreamId, &Vec<sluice::Field>> = entries
            .iter()
            .map(|entry| (entry.id, &entry.fields))
            .collect();
        for entry in &entries {
            assert!(
                entry.id > previous,
                "round {round}: IDs out of order at {}",
                entry.id
            );
            previous = entry.id;
            let tag = String::from_utf8_lossy(&entry.fields[0].1).to_string();
            assert_eq!(
                entry.fields,
                fields_for(&tag),
                "round {round}: {} damaged",
                entry.id
            );
            assert!(
                tags.insert(tag.clone()),
                "round {round}: {tag} stored twice"
            );
        }
        for (id, tag) in &acknowledged {
            assert_eq!(
                present.get(id).map(|fields| fields[0].1.clone()),
                Some(tag.as_bytes().to_vec()),
                "round {round}: acknowledged {id} ({tag}) lost"
            );
        }
        assert_eq!(engine.len(NAME).unwrap(), entries.len() as u64);
        engine.close().unwrap();
    }
    assert!(
        acknowledged.len() > 50,
        "too few acknowledged writes to mean anything: {}",
        acknowledged.len()
    );
}
