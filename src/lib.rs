//! Sluice: Redis Streams made durable.
//!
//! The crate is the storage engine (`storage`, `stream`, `engine`: no network code), the
//! reply model shared by every front end (`reply`), the gRPC server (`server`) and the
//! command-line client (`cli`).

pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod id;
pub mod proto;
pub mod reply;
pub mod server;
pub mod storage;
pub mod stream;

pub use config::{Config, FsyncPolicy};
pub use engine::Engine;
pub use error::{Error, Result};
pub use id::{AddId, IdRange, StreamId};
pub use storage::read::ReadLimit;
pub use storage::record::{Entry, Field};
pub use storage::stream_log::{Counters, TrimSpec, TrimStrategy};
pub use stream::{NewEntry, StreamInfo};
