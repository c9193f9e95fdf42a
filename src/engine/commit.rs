//! The threads that make writes durable in the background, and the future a write awaits.
//!
//! - [`Committers`]: under `always`, an async task cannot block on a sync, so when one awaits
//!   durability and no sync round is running, it asks this pool to lead one (or, on a thread
//!   running a [`super::pump::SyncPump`], the pump). The round covers every write enqueued so
//!   far (group commit, see [`crate::storage::sync`]).
//! - [`Commit`]: what [`super::Engine::add_deferred`] returns; resolves once the write is
//!   durable, parking no thread meanwhile.
//! - [`Syncer`]: under `everysec`, syncs every stream once a second.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::id::StreamId;
use crate::lock::{lock, wait_timeout_while, wait_while};
use crate::storage::log::{CommitQueueKind, Ticket};
use crate::stream::Stream;

use super::round::RoundRequest;

/// What a commit thread is asked to do for a stream; each kind has its own "already
/// requested" flag, cleared when the thread takes the request.
pub(super) enum Request {
    /// Lead group-commit rounds of one of the stream's queues.
    Round(RoundRequest),
    /// Compact the stream's group journal.
    Compact(Weak<Stream>, Arc<AtomicBool>),
    /// Stop.
    Stop,
}

/// Rounds a committer thread leads for one queue before letting other streams have a turn.
const ROUNDS_PER_TURN: usize = 16;

/// Threads that lead group-commit rounds for writes awaited by async tasks, and compact group
/// journals off the writers' path.
pub struct Committers {
    requests: Arc<Requests>,
    threads: Vec<JoinHandle<()>>,
}

/// The commit threads' queue of requests. A request wakes one idle thread, and only it: the
/// threads wait on a condition variable, not (as on a channel's receiver shared behind a
/// mutex) on the mutex, whose hand-off woke a second thread for every request.
#[derive(Default)]
struct Requests {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Request>,
    /// The threads have stopped: a request is dropped at once (a round request dropped
    /// unrun clears its flag), never left in a queue nobody reads.
    stopped: bool,
}

impl Requests {
    /// Queues `request` for the next idle thread; once the threads have stopped, drops it.
    fn send(&self, request: Request) {
        let mut queue = lock(&self.queue);
        if queue.stopped {
            drop(queue);
            drop(request);
            return;
        }
        queue.waiting.push_back(request);
        drop(queue);
        self.ready.notify_one();
    }

    /// The oldest request, waiting for one.
    fn next(&self) -> Request {
        let mut queue = wait_while(&self.ready, lock(&self.queue), |queue| {
            queue.waiting.is_empty()
        });
        queue.waiting.pop_front().unwrap_or(Request::Stop)
    }
}

impl Committers {
    /// Starts `count` commit threads.
    pub fn start(count: usize) -> Committers {
        let requests = Arc::new(Requests::default());
        let threads = (0..count)
            .filter_map(|number| {
                let requests = Arc::clone(&requests);
                std::thread::Builder::new()
                    .name(format!("sluice-commit-{number}"))
                    .spawn(move || loop {
                        match requests.next() {
                            Request::Round(round) => round.run(ROUNDS_PER_TURN),
                            Request::Compact(stream, requested) => {
                                requested.store(false, Ordering::Release);
                                if let Some(stream) = stream.upgrade() {
                                    compact(&stream);
                                }
                            }
                            Request::Stop => return,
                        }
                    })
                    .map_err(|error| tracing::error!("cannot start a commit thread: {error}"))
                    .ok()
            })
            .collect();
        Committers { requests, threads }
    }

    /// Lets `stream` ask for sync rounds (for its waiting tasks) and for group journal
    /// compactions. Rounds asked for on a thread running a [`super::pump::SyncPump`] are led
    /// by it; the rest, and every compaction, by this pool.
    pub fn serve(&self, stream: &Arc<Stream>) {
        for queue in [CommitQueueKind::Log, CommitQueueKind::Journal] {
            let round = self.scheduler(stream, move |stream, requested| {
                let round = RoundRequest::new(stream, requested, queue);
                super::pump::offer(round).err().map(Request::Round)
            });
            stream.log().set_round_scheduler(queue, round);
        }
        stream.set_compactor(self.scheduler(stream, |stream, requested| {
            Some(Request::Compact(stream, requested))
        }));
    }

    /// A function that makes a request for `stream`, unless one is already waiting, and sends
    /// it to the pool unless `make` has handed it elsewhere (returned `None`).
    fn scheduler(
        &self,
        stream: &Arc<Stream>,
        make: impl Fn(Weak<Stream>, Arc<AtomicBool>) -> Option<Request> + Send + Sync + 'static,
    ) -> Box<dyn Fn() + Send + Sync> {
        let requests = Arc::clone(&self.requests);
        let weak = Arc::downgrade(stream);
        let requested = Arc::new(AtomicBool::new(false));
        Box::new(move || {
            if !requested.swap(true, Ordering::AcqRel) {
                if let Some(request) = make(weak.clone(), Arc::clone(&requested)) {
                    // Dropped only once the pool has stopped (engine shutdown), when the final
                    // flush makes everything durable anyway.
                    requests.send(request);
                }
            }
        })
    }

    /// A pump for the calling runtime thread, whose leftover requests come to this pool.
    pub(super) fn pump(&self) -> super::pump::SyncPump {
        let requests = Arc::clone(&self.requests);
        super::pump::SyncPump::new(Box::new(move |round| {
            // Dropped only once the commit threads have stopped, after the engine's final
            // flush.
            requests.send(Request::Round(round));
        }))
    }

    /// Stops the threads after the rounds in progress.
    pub fn stop(&mut self) {
        for _ in &self.threads {
            self.requests.send(Request::Stop);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // What came after the stops is dropped unrun, and so is whatever comes later.
        let left = {
            let mut queue = lock(&self.requests.queue);
            queue.stopped = true;
            std::mem::take(&mut queue.waiting)
        };
        drop(left);
    }
}

impl Drop for Committers {
    /// Stops the threads if [`Committers::stop`] has not (an engine that failed to open).
    fn drop(&mut self) {
        self.stop();
    }
}

/// Compacts a stream's group journal, logging a failure (the journal simply grows on, and the
/// next change asks again).
fn compact(stream: &Stream) {
    if let Err(error) = stream.compact_groups() {
        tracing::error!(
            stream = %String::from_utf8_lossy(stream.name()),
            "group journal compaction failed: {error}"
        );
    }
}

/// Work already done, and visible to its caller, whose acknowledgement must wait until it is
/// durable: resolves to its value once every stream it changed has synced the change (under
/// `always`; at once under the other policies), parking no thread meanwhile. Synchronous
/// callers use [`Durable::wait`].
pub struct Durable<T> {
    waits: Vec<(Arc<Stream>, Ticket)>,
    value: Option<T>,
}

/// An XADD accepted by [`super::Engine::add_deferred`]: its IDs once durable (`None`:
/// NOMKSTREAM on a missing stream).
pub type Commit = Durable<Option<Vec<StreamId>>>;

impl<T> Durable<T> {
    /// `value`, with nothing to wait for yet.
    pub(crate) fn new(value: T) -> Durable<T> {
        Durable {
            waits: Vec::new(),
            value: Some(value),
        }
    }

    /// Also waits for `ticket` of `stream`.
    pub(crate) fn after(&mut self, stream: &Arc<Stream>, ticket: Ticket) {
        if !ticket.is_empty() {
            self.waits.push((Arc::clone(stream), ticket));
        }
    }

    /// The same wait, its value passed through `f` first (the value is ready; only its
    /// durability is awaited).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Durable<U> {
        Durable {
            waits: self.waits,
            value: self.value.map(f),
        }
    }

    /// Blocks until durable, leading sync rounds as needed.
    pub fn wait(mut self) -> Result<T> {
        for (stream, ticket) in self.waits.drain(..) {
            stream.log().wait_durable(ticket)?;
        }
        self.take()
    }

    fn take(&mut self) -> Result<T> {
        self.value
            .take()
            .ok_or_else(|| Error::Poisoned("a durable value was taken twice".into()))
    }
}

impl<T: Unpin> Future for Durable<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, context: &mut TaskContext<'_>) -> Poll<Self::Output> {
        while let Some((stream, ticket)) = self.waits.last() {
            match stream.log().poll_durable(*ticket, context.waker()) {
                Poll::Ready(Ok(())) => {
                    self.waits.pop();
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(self.take())
    }
}

/// The `everysec` thread: syncs every stream with unsynced data once a second.
pub struct Syncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Syncer {
    /// Starts the thread; each second it syncs the streams `streams` lists, for as long as
    /// that returns some.
    pub fn start(
        streams: impl Fn() -> Option<Vec<Arc<Stream>>> + Send + 'static,
    ) -> Option<Syncer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sluice-everysec".into())
            .spawn(move || loop {
                {
                    let (stopped, wake) = &*signal;
                    let guard = lock(stopped);
                    let guard = wait_timeout_while(wake, guard, Duration::from_secs(1), |stopped| {
                        !*stopped
                    });
                    if *guard {
                        return;
                    }
                }
                let Some(streams) = streams() else {
                    return;
                };
                for stream in streams {
                    if let Err(error) = stream.log().flush() {
                        tracing::error!(stream = %String::from_utf8_lossy(stream.name()), "background sync failed: {error}");
                    }
                }
            });
        match thread {
            Ok(thread) => Some(Syncer { stop, thread }),
            Err(error) => {
                tracing::error!("cannot start the everysec sync thread: {error}");
                None
            }
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Weak};
    use std::time::{Duration, Instant};

    use super::{Committers, Request};
    use crate::engine::round::RoundRequest;
    use crate::storage::log::CommitQueueKind;

    /// A round request whose "already requested" flag is `flag` (set, as its maker sets it).
    fn round(flag: &Arc<AtomicBool>) -> Request {
        flag.store(true, Ordering::Release);
        Request::Round(RoundRequest::new(
            Weak::new(),
            Arc::clone(flag),
            CommitQueueKind::Log,
        ))
    }

    /// Every request sent leaves the queue while the threads run (a lost wake-up would leave
    /// one there, its flag set); once they have stopped, a request is dropped at once
    /// (clearing its flag), never left queued.
    #[test]
    fn requests_are_run_until_the_threads_stop_then_dropped() {
        let mut committers = Committers::start(2);
        let flags: Vec<_> = (0..8).map(|_| Arc::new(AtomicBool::new(false))).collect();
        for flag in &flags {
            committers.requests.send(round(flag));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while flags.iter().any(|flag| flag.load(Ordering::Acquire)) {
            assert!(Instant::now() < deadline, "a request was never run");
            std::thread::sleep(Duration::from_millis(1));
        }
        committers.stop();
        let late = Arc::new(AtomicBool::new(false));
        committers.requests.send(round(&late));
        assert!(
            !late.load(Ordering::Acquire),
            "a request sent after the stop waits in a queue nobody reads"
        );
        assert!(crate::lock::lock(&committers.requests.queue)
            .waiting
            .is_empty());
    }
}
