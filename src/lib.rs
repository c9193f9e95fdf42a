//! Sluice: Redis Streams made durable.
//!
//! The crate is a storage engine (no network code), the Redis command layer and reply model
//! every front end shares, and the front ends: a gRPC server and a command-line client.
//! Modules call only downward in this list (lowest first):
//!
//! - `id`: stream IDs — Redis's grammar, order and ID error texts;
//! - `clock`: the one source of milliseconds (swappable in tests);
//! - `model`: the engine's vocabulary — entries, fields, trims, read limits, where reads
//!   start, XINFO's figures — shared by the engine and every front end;
//! - `error`: the engine's error type, with Redis's texts;
//! - `config`: every engine limit and policy, with defaults and validation;
//! - `lock`: taking locks, the one way this crate does it;
//! - `glob`: Redis's glob patterns;
//! - `storage`: bytes and files — segments, records, indexes, tombstones, group commit,
//!   recovery, the data directory (format in `storage/FORMAT.md`);
//! - `group`: consumer groups — their state, Redis's rules for it, and the journal records
//!   that persist it (pure: no files);
//! - `stream`: Redis semantics over one stream's log (XADD IDs, XSETID rules, XINFO) and its
//!   groups;
//! - `engine`: all streams of a data directory, the commands on them, wake-ups;
//! - `command`: Redis command syntax into typed commands, with Redis's error texts, for
//!   every front end;
//! - `reply`: Redis's reply model, built from engine values;
//! - `proto`: the generated gRPC types and their conversions;
//! - `server`: the gRPC server, a thin translation over the engine;
//! - `cli`: `sluice cli` and `sluice tail`, speaking gRPC;
//! - `check`: `sluice check`, the offline verifier and repairer of a data directory (it reads
//!   the storage formats itself, and repairs through the engine).

pub mod check;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod glob;
pub mod group;
pub mod id;
pub mod lock;
pub mod model;
pub mod proto;
pub mod reply;
pub mod server;
pub mod storage;
pub mod stream;

pub use config::{Config, FsyncPolicy};
pub use engine::Engine;
pub use error::{Error, Result};
pub use id::{AddId, IdRange, StreamId};
pub use model::{
    Counters, Entry, Field, NewEntry, ReadLimit, ReadStart, StreamInfo, TrimSpec, TrimStrategy,
};
