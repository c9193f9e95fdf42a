//! Why the RESP front end parses requests itself: its parser against the `redis-protocol`
//! crate's RESP2 decoder, on the requests a server receives (`cargo bench --bench resp_parse`).
//!
//! Each iteration cuts a pipeline of 16 `XADD s * f <100 bytes>` requests out of one buffer
//! into argument lists (`Vec<Vec<u8>>`, what the command layer takes): `sluice` with
//! [`RequestParser`], `redis_protocol` with `decode_bytes_mut` and the conversion of each
//! frame into arguments (a server must also refuse frames that are not arrays of bulk
//! strings, which the crate does not).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;
use sluice::server::resp::frame::RequestParser;

/// Requests per pipeline.
const PIPELINE: usize = 16;

fn pipeline() -> Vec<u8> {
    let value = "x".repeat(100);
    let mut bytes = Vec::new();
    for _ in 0..PIPELINE {
        let arguments = ["XADD", "s", "*", "f", value.as_str()];
        bytes.extend_from_slice(format!("*{}\r\n", arguments.len()).as_bytes());
        for argument in arguments {
            bytes.extend_from_slice(format!("${}\r\n{argument}\r\n", argument.len()).as_bytes());
        }
    }
    bytes
}

fn with_sluice(wire: &[u8]) -> usize {
    let mut parser = RequestParser::new(1 << 20);
    let mut input = BytesMut::from(wire);
    let mut arguments = 0;
    while let Some(request) = parser.next(&mut input).expect("well formed") {
        arguments += request.len();
    }
    arguments
}

fn with_redis_protocol(wire: &[u8]) -> usize {
    let mut input = BytesMut::from(wire);
    let mut arguments = 0;
    while let Some((frame, _, _)) = decode_bytes_mut(&mut input).expect("well formed") {
        let BytesFrame::Array(items) = frame else {
            panic!("not an array");
        };
        let request: Vec<Vec<u8>> = items
            .into_iter()
            .map(|item| match item {
                BytesFrame::BulkString(bytes) => bytes.to_vec(),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect();
        arguments += request.len();
    }
    arguments
}

fn parse(c: &mut Criterion) {
    let wire = pipeline();
    assert_eq!(with_sluice(&wire), with_redis_protocol(&wire));
    let mut group = c.benchmark_group("resp_parse");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    group.bench_function("sluice", |b| b.iter(|| with_sluice(&wire)));
    group.bench_function("redis_protocol", |b| b.iter(|| with_redis_protocol(&wire)));
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
