//! The tokio runtime a server runs on.
//!
//! One thread by default, as Redis runs: every connection and command on one current-thread
//! runtime, with the engine's [`crate::engine::SyncPump`] leading the syncs that `always`
//! writes await on that same thread, between batches of commands. That is the cheapest way
//! to serve per operation, and on a machine whose cores the clients share also the fastest
//! for writes and Tail, though not for Range, which one thread serves with less throughput
//! than two (the README's benchmark section has the figures). With more threads the server is a
//! multi-thread runtime with that many workers, for machines with cores to spare, and the
//! commit threads lead the syncs.

use std::io;

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

use crate::engine::Engine;

/// The default of `--worker-threads`.
pub const WORKER_THREADS_DEFAULT: u16 = 1;

/// A runtime with `threads` threads running tasks (see the module comment).
pub fn build(threads: u16) -> io::Result<Runtime> {
    let mut builder = if threads <= 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(usize::from(threads));
        builder
    };
    builder.enable_all().build()
}

/// Starts `engine`'s sync pump if the calling runtime has one thread (a pump serves only the
/// thread it runs on).
pub fn start_sync_pump(engine: &Engine) {
    if Handle::current().runtime_flavor() == RuntimeFlavor::CurrentThread {
        tokio::spawn(engine.sync_pump().run());
    }
}

/// How many threads the calling runtime runs tasks on.
pub fn worker_threads() -> usize {
    Handle::current().metrics().num_workers()
}
