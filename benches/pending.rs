//! Memory per pending entry and the time to open a store with many of them, run on demand:
//! `cargo bench --bench pending`.
//!
//! Both sides hold `SLUICE_PENDING_ENTRIES` (default 1,000,000) 100-byte entries in one stream
//! with one consumer group, and then read every entry with the group, in reads of 10,000, so
//! that all of them are pending (to four consumers in turn). What is measured is the growth of
//! memory from before the reads to after them, divided by the entries:
//! - Sluice: this process's anonymous resident memory (RssAnon) around the reads, with the
//!   engine open in it (fsync `no`, mimalloc as the server uses, its free pages returned
//!   first); the entries stay on disk, and the segment pages the reads mapped (RssFile, the
//!   kernel's page cache) are shown apart;
//! - Redis: `used_memory` (INFO memory) around the same reads on a `redis-server` this bench
//!   starts (no persistence), with the same entries.
//!
//! Then the Sluice store is closed and opened again, and the open time reported (the target:
//! under a second with a million entries pending), with the resident memory after the open.
//! Without redis-server the Redis side is skipped with a message.

#[path = "support/proc_status.rs"]
mod proc_status;
#[path = "load/servers.rs"]
#[allow(dead_code)]
mod servers;
#[path = "load/settings.rs"]
#[allow(dead_code)]
mod settings;

use std::alloc::{GlobalAlloc, Layout};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sluice::engine::ReadGroup;
use sluice::model::{GroupPolicy, GroupStart, GroupTarget, ReadOptions};
use sluice::{AddId, Config, Engine, FsyncPolicy, NewEntry, ReadLimit};

use proc_status::{mib, status_kib};

/// mimalloc (as the server uses), counting the usable bytes of live allocations — the same
/// measure as Redis's `used_memory`, which counts its allocator's usable sizes.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to mimalloc with the layout it was given; the count is a side
// effect on an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(unsafe { usable(pointer) }, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(unsafe { usable(pointer) }, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(unsafe { usable(pointer) }, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let before = unsafe { usable(pointer) };
        let moved = unsafe { mimalloc::MiMalloc.realloc(pointer, layout, size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_sub(before, Ordering::Relaxed);
            LIVE_BYTES.fetch_add(unsafe { usable(moved) }, Ordering::Relaxed);
        }
        moved
    }
}

/// The usable size of a live mimalloc allocation.
unsafe fn usable(pointer: *mut u8) -> usize {
    unsafe { libmimalloc_sys::mi_usable_size(pointer.cast()) }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Entries per add while filling, and per group read.
const BATCH: usize = 10_000;
const STREAM: &[u8] = b"jobs";
const GROUP: &[u8] = b"workers";
const CONSUMERS: usize = 4;

/// Anonymous resident memory (the heap, not the segment files mapped for reading, whose pages
/// the kernel may drop at will), once the allocator has returned what is free to the system;
/// and the file-backed resident memory beside it.
fn rss_kib() -> (u64, u64) {
    // SAFETY: mi_collect only walks and frees mimalloc's own free pages.
    unsafe { libmimalloc_sys::mi_collect(true) };
    (status_kib("RssAnon:"), status_kib("RssFile:"))
}

fn entry() -> NewEntry {
    NewEntry {
        id: AddId::Auto,
        fields: vec![(b"data".to_vec(), vec![b'x'; 96])],
    }
}

/// Fills the store, pends every entry; returns the bytes per pending entry: allocated, and
/// resident.
fn sluice_side(dir: &Path, total: usize) -> (f64, f64) {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::No;
    let engine = Engine::open(config.clone()).expect("open");
    let batch: Vec<NewEntry> = (0..BATCH).map(|_| entry()).collect();
    for _ in 0..total / BATCH {
        engine.add(STREAM, &batch, false, None).expect("add");
    }
    engine
        .create_group(
            STREAM,
            GROUP,
            GroupTarget::Id(sluice::StreamId::MIN),
            false,
            None,
            GroupPolicy::default(),
        )
        .expect("group");
    let (before, live_before) = (rss_kib(), live_bytes());
    let started = Instant::now();
    let mut pending = 0;
    for round in 0.. {
        let read = ReadGroup {
            group: GROUP.to_vec(),
            consumer: format!("consumer-{}", round % CONSUMERS).into_bytes(),
            streams: vec![(STREAM.to_vec(), GroupStart::New)],
            options: ReadOptions {
                count: BATCH,
                ..ReadOptions::default()
            },
            limit: ReadLimit::count(BATCH),
        };
        let outcome = engine.read_group(&read).expect("read");
        let delivered: usize = outcome
            .streams
            .iter()
            .map(|(_, read)| read.deliveries.len())
            .sum();
        if delivered == 0 {
            break;
        }
        pending += delivered;
    }
    let read_time = started.elapsed();
    // Let a compaction of the group journal that the reads set off finish first.
    engine.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (after, live_after) = (rss_kib(), live_bytes());
    let resident = (after.0.saturating_sub(before.0) * 1024) as f64 / pending as f64;
    let allocated = live_after.saturating_sub(live_before) as f64 / pending as f64;
    println!(
        "sluice: {pending} entries pending after {:.1} s of reads; allocated {:.1} → {:.1} MiB: {allocated:.0} bytes per pending entry; anonymous RSS {:.1} → {:.1} MiB: {resident:.0} bytes per pending entry (file-backed RSS {:.1} → {:.1} MiB: segments read through their maps)",
        read_time.as_secs_f64(),
        live_before as f64 / (1 << 20) as f64,
        live_after as f64 / (1 << 20) as f64,
        mib(before.0),
        mib(after.0),
        mib(before.1),
        mib(after.1),
    );
    engine.close().expect("close");
    drop(engine);
    let opening = Instant::now();
    let engine = Engine::open(config).expect("reopen");
    let opened = opening.elapsed();
    let summary = engine.pending_summary(STREAM, GROUP).expect("summary");
    let (anonymous, file) = rss_kib();
    println!(
        "sluice: reopened with {} entries pending in {:.0} ms; allocated {:.1} MiB, anonymous RSS {:.1} MiB, file-backed {:.1} MiB",
        summary.count,
        opened.as_secs_f64() * 1000.0,
        live_bytes() as f64 / (1 << 20) as f64,
        mib(anonymous),
        mib(file),
    );
    (allocated, resident)
}

/// `used_memory` and `used_memory_rss` from INFO memory.
async fn used_memory(connection: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(connection)
        .await
        .expect("INFO");
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("used_memory:"), field("used_memory_rss:"))
}

/// The same on Redis; returns the bytes per pending entry: allocated (`used_memory`), and
/// resident (`used_memory_rss`).
async fn redis_side(address: SocketAddr, total: usize) -> (f64, f64) {
    let client = redis::Client::open(format!("redis://{address}/")).expect("address");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let value = vec![b'x'; 96];
    for _ in 0..total / BATCH {
        let mut pipeline = redis::pipe();
        for _ in 0..BATCH {
            pipeline
                .cmd("XADD")
                .arg(STREAM)
                .arg("*")
                .arg("data")
                .arg(&value)
                .ignore();
        }
        let () = pipeline.query_async(&mut connection).await.expect("XADD");
    }
    let () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM)
        .arg(GROUP)
        .arg("0")
        .query_async(&mut connection)
        .await
        .expect("XGROUP CREATE");
    let before = used_memory(&mut connection).await;
    let mut pending = 0usize;
    for round in 0.. {
        let reply: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(format!("consumer-{}", round % CONSUMERS))
            .arg("COUNT")
            .arg(BATCH)
            .arg("STREAMS")
            .arg(STREAM)
            .arg(">")
            .query_async(&mut connection)
            .await
            .expect("XREADGROUP");
        let delivered = match &reply {
            redis::Value::Array(streams) => match streams.first() {
                Some(redis::Value::Array(pair)) => match pair.get(1) {
                    Some(redis::Value::Array(entries)) => entries.len(),
                    _ => 0,
                },
                _ => 0,
            },
            _ => 0,
        };
        if delivered == 0 {
            break;
        }
        pending += delivered;
    }
    let after = used_memory(&mut connection).await;
    let allocated = after.0.saturating_sub(before.0) as f64 / pending as f64;
    let resident = after.1.saturating_sub(before.1) as f64 / pending as f64;
    let mebibytes = |bytes: u64| bytes as f64 / (1 << 20) as f64;
    println!(
        "redis:  {pending} entries pending; used_memory {:.1} → {:.1} MiB: {allocated:.0} bytes per pending entry; used_memory_rss {:.1} → {:.1} MiB: {resident:.0} bytes per pending entry",
        mebibytes(before.0),
        mebibytes(after.0),
        mebibytes(before.1),
        mebibytes(after.1),
    );
    (allocated, resident)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and this is no test.
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("pending: a benchmark; run it with `cargo bench --bench pending`");
        return;
    }
    let total: usize = std::env::var("SLUICE_PENDING_ENTRIES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let total = total.max(BATCH) / BATCH * BATCH;
    let parent = std::env::var_os("SLUICE_BENCH_DIR");
    let dir = match &parent {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let sluice = sluice_side(dir.path(), total);
    let redis_binary = std::path::PathBuf::from(
        std::env::var_os("SLUICE_LOAD_REDIS_SERVER").unwrap_or_else(|| "redis-server".into()),
    );
    let redis = match servers::RedisServer::start(
        &redis_binary,
        parent.as_deref().map(Path::new),
        settings::Fsync::No,
    ) {
        Ok(server) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            Some(runtime.block_on(redis_side(server.address, total)))
        }
        Err(error) => {
            println!("redis:  skipped ({error})");
            None
        }
    };
    if let Some(redis) = redis {
        println!(
            "bytes per pending entry, allocated: sluice {:.0}, redis {:.0} ({:.2}x of redis); resident: sluice {:.0}, redis {:.0} ({:.2}x)",
            sluice.0,
            redis.0,
            sluice.0 / redis.0,
            sluice.1,
            redis.1,
            sluice.1 / redis.1
        );
    }
}
