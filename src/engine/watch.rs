//! Per-name change notifications, for readers that wait for entries (blocking reads, Tail).
//!
//! A name can be watched before its stream exists; every committed change to the stream (and
//! its creation or drop) bumps the name's counter. Notifying costs nothing while nobody
//! watches anything, and one short lock otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use crate::lock::lock;

/// Watched names kept before the table is swept of names nobody watches any more; the sweep
/// runs again at every power of two beyond it, so its cost stays proportional to the growth.
pub const WATCHED_NAMES_SWEEP_AT: usize = 1024;

/// Per-name change notifications for blocked readers.
#[derive(Default)]
pub struct Watchers {
    senders: Mutex<HashMap<Vec<u8>, watch::Sender<u64>>>,
    /// Names in `senders`: lets `notify` skip the lock when nobody watches anything.
    watched: AtomicUsize,
}

impl Watchers {
    /// A receiver that changes whenever stream `name` does.
    pub fn subscribe(&self, name: &[u8]) -> watch::Receiver<u64> {
        let mut senders = lock(&self.senders);
        if senders.len() >= WATCHED_NAMES_SWEEP_AT && senders.len().is_power_of_two() {
            senders.retain(|_, sender| sender.receiver_count() > 0);
        }
        let receiver = senders
            .entry(name.to_vec())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        self.watched.store(senders.len(), Ordering::Release);
        receiver
    }

    /// Wakes everyone watching `name`.
    pub fn notify(&self, name: &[u8]) {
        if self.watched.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut senders = lock(&self.senders);
        if let Some(sender) = senders.get(name) {
            if sender.receiver_count() == 0 {
                senders.remove(name);
            } else {
                sender.send_modify(|version| *version = version.wrapping_add(1));
            }
        }
        self.watched.store(senders.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_see_their_name_only_and_forgotten_names_are_swept() {
        let watchers = Watchers::default();
        let mut orders = watchers.subscribe(b"orders");
        let clicks = watchers.subscribe(b"clicks");
        watchers.notify(b"orders");
        assert!(orders.has_changed().unwrap_or(false));
        assert!(!clicks.has_changed().unwrap_or(true));
        orders.borrow_and_update();
        drop(clicks);
        for number in 0..WATCHED_NAMES_SWEEP_AT {
            drop(watchers.subscribe(format!("gone-{number}").as_bytes()));
        }
        // The sweep at the threshold dropped the names nobody watches.
        assert!(lock(&watchers.senders).len() < WATCHED_NAMES_SWEEP_AT);
        watchers.notify(b"orders");
        assert!(orders.has_changed().unwrap_or(false));
    }
}
