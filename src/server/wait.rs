//! Waiting for streams to change: the one wait of every call that blocks (Read with
//! `block_ms`, Tail, a group Read, the streaming consumer).
//!
//! To never miss a wake-up, a call subscribes to the streams' change notifications *before* it
//! first reads: anything committed after the subscription then wakes it, and it reads again.
//! A wait ends when a watched stream changes, when the caller's own condition fires (a timeout,
//! a subscriber gone), or when the server shuts down — the last as an error, so every blocked
//! call is released the same way.

use std::future::{pending, Future};
use std::time::Duration;

use tokio::sync::watch;

use crate::engine::Engine;
use crate::server::shutdown::Shutdown;
use crate::server::status::RequestError;

/// The change notifications of the streams one call waits on.
pub(super) struct Changes {
    watches: Vec<watch::Receiver<u64>>,
}

/// Why a wait ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Woken {
    /// A watched stream changed: read again.
    Changed,
    /// The caller's condition fired (its timeout, its subscriber gone).
    Stopped,
}

impl Changes {
    /// Subscribes to the streams named.
    pub(super) fn subscribe<'a>(
        engine: &Engine,
        names: impl IntoIterator<Item = &'a [u8]>,
    ) -> Changes {
        Changes {
            watches: names.into_iter().map(|name| engine.watch(name)).collect(),
        }
    }

    /// Marks every change so far as seen: the read that follows covers them.
    pub(super) fn mark_seen(&mut self) {
        for watch in &mut self.watches {
            watch.borrow_and_update();
        }
    }

    /// Waits for a change of any watched stream, for `until`, or for the server's shutdown
    /// (`Err(ShuttingDown)`, also when the engine itself is gone and nothing can change any
    /// more). After `recheck`, if given, it ends as if something changed: what the caller
    /// waits for may fall due with time alone (a lease running out).
    pub(super) async fn wait(
        &mut self,
        shutdown: &Shutdown,
        until: impl Future<Output = ()>,
        recheck: Option<Duration>,
    ) -> Result<Woken, RequestError> {
        let recheck = async {
            match recheck {
                Some(after) => tokio::time::sleep(after).await,
                None => pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.fired() => Err(RequestError::ShuttingDown),
            () = until => Ok(Woken::Stopped),
            changed = any_changed(&mut self.watches) => {
                changed.map(|()| Woken::Changed).map_err(|_| RequestError::ShuttingDown)
            }
            () = recheck => Ok(Woken::Changed),
        }
    }
}

/// Resolves when any watch changes. A watch whose sender is gone can never change again, so it
/// stops counting; once every watch is gone (the engine was dropped), an error. With no
/// watches, never.
async fn any_changed(watches: &mut [watch::Receiver<u64>]) -> Result<(), watch::error::RecvError> {
    match watches {
        [] => return pending().await,
        // One stream (a Tail, most blocked reads): its watch alone, with nothing to allocate.
        [watch] => return watch.changed().await,
        _ => {}
    }
    let watched = watches.len();
    let closed = std::sync::atomic::AtomicUsize::new(0);
    let changes = watches.iter_mut().map(|watch| {
        let closed = &closed;
        Box::pin(async move {
            if let Err(error) = watch.changed().await {
                if closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 < watched {
                    pending::<()>().await;
                }
                return Err(error);
            }
            Ok(())
        })
    });
    let (changed, _, _) = futures_util::future::select_all(changes).await;
    changed
}
