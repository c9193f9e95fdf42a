//! End-to-end tests of every Streams and Groups RPC against the real `sluice serve` binary: happy paths,
//! every refusal with its status code and (Redis's) exact text, binary safety, blocking reads,
//! Tail and the configured limits. Redis texts were checked against redis-server 7.0.15.
//!
//! One test binary, one file per RPC family; `helpers` holds what they share.

#[path = "../server_harness/mod.rs"]
mod server_harness;

mod helpers;

mod add;
mod delete_trim;
mod groups;
mod info;
mod keyspace;
mod limits;
mod metrics;
mod range;
mod read;
mod retention;
mod tail;
