//! MULTI/EXEC's isolation, across both front ends.
//!
//! Every command that reads or changes streams runs holding the gate shared, for as long as it
//! looks at or changes them (an Add only for its append: the wait for its sync is outside). A
//! RESP EXEC holds it alone while it runs its queue, so no command of any other client — RESP
//! or gRPC — runs between the queued ones. What waits without end (a blocked read between its
//! attempts, a Tail, a streaming consumer between its steps) does not hold it while waiting.

use std::sync::Arc;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The server's gate. Cheap to clone.
#[derive(Clone, Default)]
pub struct Gate(Arc<RwLock<()>>);

impl Gate {
    /// Held by one command while it runs.
    pub async fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.0.read().await
    }

    /// Held by an EXEC while it runs its queue.
    pub async fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().await
    }
}
