//! Retention policies at the engine: setting and reading a stream's policy, one enforcement
//! pass over every stream, and the background thread ([`Enforcer`]) that runs a pass every
//! `retention_interval_ms`.
//!
//! What a policy removes, and the guard, are the stream's business (see
//! [`crate::stream::Stream::enforce_retention`]); the file that persists a policy is
//! [`crate::storage::retention`]'s. Enforcement lives in the engine, not a front end, so an
//! embedded engine enforces too. The thread holds only a weak reference to the table of
//! streams, never the engine itself, so the engine is always dropped (and its data directory
//! unlocked) by its owner's thread; it is stopped, and its pass in progress finished, before
//! the engine's clean shutdown.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::table::Table;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::lock::{lock, wait_timeout_while};
use crate::model::{Retention, RetentionStatus};
use crate::stream::{Removed, Stream};

/// Refuses a policy that cannot work: a limit of 0 (use no limit, or clear the policy), or the
/// guard without any limit to guard against.
pub fn check_retention(policy: &Retention) -> Result<()> {
    let zero = [
        (policy.max_age_ms, "MAXAGE must be at least 1 ms"),
        (policy.max_bytes, "MAXBYTES must be at least 1"),
        (policy.max_len, "MAXLEN must be at least 1"),
    ];
    if let Some((_, why)) = zero.iter().find(|(limit, _)| *limit == Some(0)) {
        return Err(Error::BadRetention(why));
    }
    if policy.keep_unprocessed && policy.has_no_limit() {
        return Err(Error::BadRetention(
            "KEEPUNPROCESSED needs a limit (MAXAGE, MAXBYTES or MAXLEN)",
        ));
    }
    Ok(())
}

/// One pass over `streams`, stopping early if `stopped` says so; every stream is tried even
/// when one fails, and the first failure is returned after the others ran.
fn pass(streams: &[Arc<Stream>], stopped: &dyn Fn() -> bool) -> Result<Removed> {
    let mut total = Removed::default();
    let mut first_error = None;
    for stream in streams {
        if stopped() {
            break;
        }
        match stream.enforce_retention() {
            Ok(removed) => {
                if removed.segments > 0 {
                    tracing::info!(
                        stream = %String::from_utf8_lossy(stream.name()),
                        segments = removed.segments,
                        entries = removed.entries,
                        bytes = removed.bytes,
                        "retention removed segments"
                    );
                }
                total.absorb(removed);
            }
            // Dropped or renamed meanwhile: nothing of it is left to retain.
            Err(Error::Dropped) => {}
            Err(error) => {
                tracing::error!(
                    stream = %String::from_utf8_lossy(stream.name()),
                    "retention pass failed: {error}"
                );
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(total), Err)
}

impl Engine {
    /// Sets stream `name`'s retention policy, durably; a policy with no limit and no guard
    /// clears it. `ERR no such key` for a missing stream; [`Error::BadRetention`] for a policy
    /// that cannot work (see [`check_retention`]). Enforced from the next pass on.
    pub fn set_retention(&self, name: &[u8], policy: Retention) -> Result<()> {
        let policy = if policy.is_clear() {
            None
        } else {
            check_retention(&policy)?;
            Some(policy)
        };
        self.with_stream(name, false, |stream| stream.set_retention(policy))?
            .ok_or(Error::NoSuchKey)
    }

    /// Stream `name`'s retention policy (`None`: it has none); `ERR no such key` for a
    /// missing stream.
    pub fn retention(&self, name: &[u8]) -> Result<Option<Retention>> {
        Ok(self.stream(name)?.ok_or(Error::NoSuchKey)?.retention())
    }

    /// Where retention stands for stream `name` (`None`: it has no policy): the entries,
    /// bytes and segments its guard holds back now, and what retention removed since the
    /// stream was opened. For metrics. `ERR no such key` for a missing stream.
    pub fn retention_status(&self, name: &[u8]) -> Result<Option<RetentionStatus>> {
        Ok(self
            .stream(name)?
            .ok_or(Error::NoSuchKey)?
            .retention_status())
    }

    /// Runs one enforcement pass over every stream with a policy, now, on the calling thread
    /// (the background thread runs the same pass); returns what it removed in all.
    pub fn enforce_retention(&self) -> Result<Removed> {
        pass(&self.inner.table.all(), &|| false)
    }
}

/// The background thread that enforces retention every `retention_interval_ms`.
pub struct Enforcer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Enforcer {
    /// Starts the thread over the streams of `table`, for as long as the table lives; `None`
    /// for an interval of 0 (no background passes) or when no thread can be started.
    pub(super) fn start(table: Weak<Table>, interval_ms: u64) -> Option<Enforcer> {
        if interval_ms == 0 {
            return None;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let interval = Duration::from_millis(interval_ms);
        let thread = std::thread::Builder::new()
            .name("sluice-retention".into())
            .spawn(move || loop {
                let (stopped, wake) = &*signal;
                {
                    let guard = lock(stopped);
                    if *wait_timeout_while(wake, guard, interval, |stopped| !*stopped) {
                        return;
                    }
                }
                let Some(streams) = table.upgrade().map(|table| table.all()) else {
                    return;
                };
                // Failures are logged by the pass; the next one tries again.
                let _ = pass(&streams, &|| *lock(stopped));
            });
        match thread {
            Ok(thread) => Some(Enforcer { stop, thread }),
            Err(error) => {
                tracing::error!("cannot start the retention thread: {error}");
                None
            }
        }
    }

    /// Stops the thread, after the stream it is working on, and waits for it.
    pub(super) fn stop(self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_that_cannot_work_are_refused() {
        let fine = Retention {
            max_len: Some(1),
            keep_unprocessed: true,
            ..Retention::default()
        };
        assert!(check_retention(&fine).is_ok());
        for bad in [
            Retention {
                max_age_ms: Some(0),
                ..Retention::default()
            },
            Retention {
                max_bytes: Some(0),
                ..Retention::default()
            },
            Retention {
                max_len: Some(0),
                ..Retention::default()
            },
            Retention {
                keep_unprocessed: true,
                ..Retention::default()
            },
        ] {
            assert!(
                matches!(check_retention(&bad), Err(Error::BadRetention(_))),
                "{bad:?}"
            );
        }
    }
}
