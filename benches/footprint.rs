//! Memory footprint and open time, run on demand: `cargo bench --bench footprint`.
//!
//! Writes `SLUICE_FOOTPRINT_ENTRIES` (default 20,000,000) 100-byte entries spread over
//! `SLUICE_FOOTPRINT_STREAMS` streams (default: runs 1 and 1000), reports the process's
//! resident memory (VmRSS, and the peak VmHWM) after writing, then closes the engine, reopens
//! the store and reports the open time and the resident memory again. The target is a footprint
//! bounded by configuration, not by data: under 200 MiB in every case.

#[path = "support/proc_status.rs"]
mod proc_status;

use std::time::Instant;

use sluice::{AddId, Config, Engine, FsyncPolicy, NewEntry};

use proc_status::{mib, status_kib};

fn run(total: u64, streams: u64) {
    let dir = match std::env::var("SLUICE_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base).unwrap(),
        Err(_) => tempfile::tempdir().unwrap(),
    };
    let mut config = Config::new(dir.path());
    config.fsync = FsyncPolicy::No;
    let batch_size = 100u64;
    let started = Instant::now();
    {
        let engine = Engine::open(config.clone()).unwrap();
        let batch: Vec<NewEntry> = (0..batch_size)
            .map(|_| NewEntry {
                id: AddId::Auto,
                fields: vec![(b"data".to_vec(), vec![b'x'; 96])],
            })
            .collect();
        let names: Vec<Vec<u8>> = (0..streams)
            .map(|n| format!("stream-{n:04}").into_bytes())
            .collect();
        for round in 0..total / batch_size {
            let name = &names[(round % streams) as usize];
            engine.add(name, &batch, false, None).unwrap();
        }
        let written = started.elapsed();
        println!(
            "{streams:>5} streams, {total} entries: written in {:.1} s ({:.0} entries/s); RSS {:.1} MiB (peak {:.1} MiB); {} open handles",
            written.as_secs_f64(),
            total as f64 / written.as_secs_f64(),
            mib(status_kib("VmRSS:")),
            mib(status_kib("VmHWM:")),
            engine.open_handles(),
        );
        engine.close().unwrap();
    }
    let opening = Instant::now();
    let engine = Engine::open(config).unwrap();
    let opened = opening.elapsed();
    println!(
        "{streams:>5} streams, {total} entries: reopened in {:.1} ms; RSS {:.1} MiB",
        opened.as_secs_f64() * 1000.0,
        mib(status_kib("VmRSS:")),
    );
    drop(engine);
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let total: u64 = std::env::var("SLUICE_FOOTPRINT_ENTRIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000_000);
    let streams: Vec<u64> = match std::env::var("SLUICE_FOOTPRINT_STREAMS") {
        Ok(value) => value.split(',').filter_map(|n| n.parse().ok()).collect(),
        Err(_) => vec![1, 1000],
    };
    for count in streams {
        run(total, count);
    }
}
