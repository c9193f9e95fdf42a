//! Storage-engine benchmarks (criterion), run on demand: `cargo bench --bench engine`.
//!
//! - `append/<policy>`: one 100-byte entry per XADD, one appender, under each fsync policy.
//! - `append_batch/no`: 100 entries per atomic batch (entries/s).
//! - `group_commit/<n>`: fsync `always` with n concurrent appender threads on one stream; the
//!   throughput shows how many writes each fdatasync acknowledges.
//! - `group_commit_async/<n>`: the same with n async tasks awaiting durability, as the
//!   server's Add does.
//! - `xrange/scan`: reading 10,000 entries per XRANGE from a 1M-entry stream, in both directions.
//! - `open/<size>`: opening a store of many segments (`SLUICE_BENCH_OPEN_MB`, default 1024).
//!
//! Set `SLUICE_BENCH_DIR` to put the stores on a particular disk (default: the system temp dir).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

fn bench_dir() -> tempfile::TempDir {
    match std::env::var("SLUICE_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base).unwrap(),
        Err(_) => tempfile::tempdir().unwrap(),
    }
}

/// A 100-byte entry: one field of 4 bytes, one value of 96.
fn entry() -> NewEntry {
    NewEntry {
        id: AddId::Auto,
        fields: vec![(b"data".to_vec(), vec![b'x'; 96])],
    }
}

fn open(dir: &std::path::Path, fsync: FsyncPolicy) -> Engine {
    let mut config = Config::new(dir);
    config.fsync = fsync;
    Engine::open(config).unwrap()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    for policy in [FsyncPolicy::No, FsyncPolicy::EverySec, FsyncPolicy::Always] {
        if policy == FsyncPolicy::Always {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(5));
        }
        let dir = bench_dir();
        let engine = open(dir.path(), policy);
        let batch = [entry()];
        group.bench_function(policy.name(), |b| {
            b.iter(|| engine.add(b"bench", &batch, false, None).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("append_batch");
    group.throughput(Throughput::Elements(100));
    let dir = bench_dir();
    let engine = open(dir.path(), FsyncPolicy::No);
    let batch: Vec<NewEntry> = (0..100).map(|_| entry()).collect();
    group.bench_function("no", |b| {
        b.iter(|| engine.add(b"bench", &batch, false, None).unwrap())
    });
    group.finish();
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for appenders in [1usize, 8, 64] {
        let dir = bench_dir();
        let engine = Arc::new(open(dir.path(), FsyncPolicy::Always));
        let per_thread = 50;
        group.throughput(Throughput::Elements((appenders * per_thread) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(appenders),
            &appenders,
            |b, &n| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let start = Instant::now();
                        std::thread::scope(|scope| {
                            for _ in 0..n {
                                let engine = Arc::clone(&engine);
                                scope.spawn(move || {
                                    let batch = [entry()];
                                    for _ in 0..per_thread {
                                        engine.add(b"bench", &batch, false, None).unwrap();
                                    }
                                });
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
    }
    group.finish();
}

/// The same, with the appenders as async tasks awaiting `Engine::add_deferred` (as the
/// server's Add does) on a two-thread runtime: no thread parks per write.
fn group_commit_async(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit_async");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for appenders in [1usize, 8, 64] {
        let dir = bench_dir();
        let engine = open(dir.path(), FsyncPolicy::Always);
        let per_task = 50;
        group.throughput(Throughput::Elements((appenders * per_task) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(appenders),
            &appenders,
            |b, &n| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let start = Instant::now();
                        runtime.block_on(async {
                            let tasks: Vec<_> = (0..n)
                                .map(|_| {
                                    let engine = engine.clone();
                                    tokio::spawn(async move {
                                        let batch = [entry()];
                                        for _ in 0..per_task {
                                            let commit =
                                                engine.add_deferred(b"bench", &batch, false, None);
                                            commit.unwrap().await.unwrap();
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.unwrap();
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                })
            },
        );
    }
    group.finish();
}

fn xrange(c: &mut Criterion) {
    let dir = bench_dir();
    let engine = open(dir.path(), FsyncPolicy::No);
    let batch: Vec<NewEntry> = (0..1000).map(|_| entry()).collect();
    for _ in 0..1000 {
        engine.add(b"scan", &batch, false, None).unwrap();
    }
    engine.flush().unwrap();
    let ids: Vec<StreamId> = engine
        .range(b"scan", IdRange::ALL, false, ReadLimit::count(1_000_000))
        .unwrap()
        .unwrap()
        .iter()
        .map(|entry| entry.id)
        .collect();
    let mut group = c.benchmark_group("xrange");
    group.throughput(Throughput::Elements(10_000));
    for rev in [false, true] {
        let mut cursor = 0usize;
        let name = if rev { "scan_reverse" } else { "scan" };
        group.bench_function(name, |b| {
            b.iter(|| {
                cursor = (cursor + 10_000) % (ids.len() - 10_000);
                let range = IdRange {
                    start: ids[cursor],
                    end: ids[cursor + 9_999],
                };
                let got = engine
                    .range(b"scan", range, rev, ReadLimit::count(10_000))
                    .unwrap()
                    .unwrap();
                assert_eq!(got.len(), 10_000);
            })
        });
    }
    group.finish();
}

fn open_large(c: &mut Criterion) {
    let megabytes: u64 = std::env::var("SLUICE_BENCH_OPEN_MB")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1024);
    let dir = bench_dir();
    let path: PathBuf = dir.path().to_path_buf();
    {
        let engine = open(&path, FsyncPolicy::No);
        let batch: Vec<NewEntry> = (0..1000).map(|_| entry()).collect();
        let rounds = megabytes * (1 << 20) / (1000 * 133);
        for round in 0..rounds {
            let stream = format!("stream-{}", round % 10);
            engine.add(stream.as_bytes(), &batch, false, None).unwrap();
        }
        engine.close().unwrap();
    }
    let mut group = c.benchmark_group("open");
    group.sample_size(10);
    group.bench_function(format!("{megabytes}MiB"), |b| {
        b.iter(|| {
            let engine = open(&path, FsyncPolicy::No);
            assert!(engine.repairs().is_empty());
            engine
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    append,
    group_commit,
    group_commit_async,
    xrange,
    open_large
);
criterion_main!(benches);
