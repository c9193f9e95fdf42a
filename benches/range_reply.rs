//! What a Range reply costs the server beyond the RPC: reading 100 entries and encoding them
//! into the reply's buffer (`cargo bench --bench range_reply`).
//!
//! - `entries_then_prost`: the entries read into `Entry` values, converted into the generated
//!   `v1::Entry` messages, sized and encoded by prost's derived code (the server's path before
//!   `proto::wire`; `TailResponse` stands in for the old `RangeResponse`, whose `entries` it
//!   encodes alike).
//! - `wire`: the entries encoded as the read finds them ([`EncodedEntries`]), then copied into
//!   the buffer (the server's path).
//!
//! Both read the same ranges of COUNT 100 from random places in a 100,000-entry stream of
//! 100-byte entries (fsync `no`: the reads come from the page cache, as the load generator's
//! do), into a buffer of tonic's default 8 KiB, grown as tonic grows it, with the server's
//! allocator (mimalloc).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sluice::proto::convert::entries_to_proto;
use sluice::proto::v1;
use sluice::proto::wire::{EncodedEntries, RangeResponse};
use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STREAM_ENTRIES: u64 = 100_000;
const COUNT: usize = 100;
const BUFFER_BYTES: usize = 8 << 10;

fn stream() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::new(dir.path());
    config.fsync = FsyncPolicy::No;
    let engine = Engine::open(config).expect("the engine opens");
    for ms in 1..=STREAM_ENTRIES / 1000 {
        let batch: Vec<NewEntry> = (1..=1000)
            .map(|seq| NewEntry {
                id: AddId::Explicit(StreamId::new(ms, seq)),
                fields: vec![(b"data".to_vec(), vec![b'x'; 96])],
            })
            .collect();
        engine
            .add(b"s", &batch, false, None)
            .expect("the stream takes the batch");
    }
    (dir, engine)
}

/// The ranges read, from random entries on (a fixed sequence, the same for both).
fn ranges() -> impl Iterator<Item = IdRange> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let entry = state % STREAM_ENTRIES;
        IdRange {
            start: StreamId::new(entry / 1000 + 1, entry % 1000 + 1),
            end: StreamId::MAX,
        }
    })
}

fn entries_then_prost(engine: &Engine, range: IdRange) -> BytesMut {
    let entries = engine
        .range(b"s", range, false, ReadLimit::count(COUNT))
        .expect("the read succeeds")
        .expect("the stream exists");
    let reply = v1::TailResponse {
        entries: entries_to_proto(entries),
    };
    // The server checked the reply's size against its limit, then tonic encoded it.
    let len = reply.encoded_len();
    let mut buffer = BytesMut::with_capacity(BUFFER_BYTES);
    reply.encode(&mut buffer).expect("the buffer grows");
    assert_eq!(buffer.len(), len);
    buffer
}

fn wire(engine: &Engine, range: IdRange) -> BytesMut {
    let mut entries = EncodedEntries::default();
    let exists = engine
        .range_into(b"s", range, false, ReadLimit::count(COUNT), &mut entries)
        .expect("the read succeeds");
    let reply = RangeResponse::encoded(entries, exists);
    let len = reply.encoded_len();
    let mut buffer = BytesMut::with_capacity(BUFFER_BYTES);
    reply.encode(&mut buffer).expect("the buffer grows");
    assert_eq!(buffer.len(), len);
    buffer
}

fn range_reply(c: &mut Criterion) {
    let (_dir, engine) = stream();
    let range = IdRange {
        start: StreamId::new(7, 1),
        end: StreamId::MAX,
    };
    // The same bytes either way, but for the existence flag (field 2, true) at the end.
    let mut expected = entries_then_prost(&engine, range).to_vec();
    expected.extend_from_slice(&[0x10, 0x01]);
    assert_eq!(wire(&engine, range).to_vec(), expected);
    let mut group = c.benchmark_group("range_reply");
    group.throughput(Throughput::Elements(COUNT as u64));
    let mut starts = ranges();
    group.bench_function("entries_then_prost", |b| {
        b.iter(|| entries_then_prost(&engine, starts.next().unwrap_or(range)))
    });
    let mut starts = ranges();
    group.bench_function("wire", |b| {
        b.iter(|| wire(&engine, starts.next().unwrap_or(range)))
    });
    group.finish();
}

criterion_group!(benches, range_reply);
criterion_main!(benches);
