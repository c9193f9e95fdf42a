//! A request to lead the sync rounds that tasks await on one of a stream's commit queues, and
//! what running it does. Commit threads run these, and so does a one-thread server's sync
//! pump.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::storage::log::CommitQueueKind;
use crate::stream::Stream;

/// A request to lead the sync rounds that tasks wait for, on one of a stream's queues: run
/// by a commit thread, or by the runtime thread's [`super::pump::SyncPump`].
pub(super) struct RoundRequest {
    stream: Weak<Stream>,
    requested: Arc<AtomicBool>,
    queue: CommitQueueKind,
    /// Whether [`RoundRequest::run`] took it.
    ran: bool,
}

impl Drop for RoundRequest {
    /// A request dropped without running (a pump unwinding from a panic, a pool that has
    /// stopped) clears its flag, so the queue's next waiter asks again instead of waiting for
    /// a request nobody will run. After a run the flag is cleared already, or set again by a
    /// newer request, which this leaves alone.
    fn drop(&mut self) {
        if !self.ran {
            self.requested.store(false, Ordering::Release);
        }
    }
}

impl RoundRequest {
    /// A request for `queue` of `stream`, whose "already requested" flag is `requested` (set
    /// by the caller).
    pub(super) fn new(
        stream: Weak<Stream>,
        requested: Arc<AtomicBool>,
        queue: CommitQueueKind,
    ) -> RoundRequest {
        RoundRequest {
            stream,
            requested,
            queue,
            ran: false,
        }
    }

    /// Whether it asks for rounds of a stream's log (not of its group journal).
    pub(super) fn is_log(&self) -> bool {
        matches!(self.queue, CommitQueueKind::Log)
    }

    /// Leads up to `rounds_max` rounds (blocking on their syncs); if more are needed, a new
    /// request is made.
    pub(super) fn run(mut self, rounds_max: usize) {
        // Cleared first: a request made during the round is not lost.
        self.ran = true;
        self.requested.store(false, Ordering::Release);
        if let Some(stream) = self.stream.upgrade() {
            stream.log().try_flush(self.queue, rounds_max);
        }
    }
}
