//! Group commit: many writers of one stream share each `fdatasync`.
//!
//! A write transaction, still holding the stream's writer lock, *enqueues* its sequence number,
//! the files it dirtied and the view of the stream it produced; then it releases the lock and
//! *waits* until its sequence number is durable. The first waiter to find no sync in progress
//! becomes the leader: it takes everything enqueued so far (which covers every write up to the
//! newest sequence number), syncs it without any lock held, publishes the newest view, wakes
//! the others, and only then tells the stream's followers (see [`Round::announce`]). Writers
//! arriving during that sync queue up behind it and are covered together by the next one, so
//! under load one sync acknowledges many writes.
//!
//! Waiters are threads (the blocking API) or async tasks. A task cannot block on a sync, so
//! when no round is running it asks for one through the queue's scheduler: a committer
//! thread, or the sync pump of a one-thread server (see `engine/commit.rs` and
//! `engine/pump.rs`).
//!
//! Wake-ups are targeted: a round wakes exactly the waiters it made durable, plus the oldest
//! remaining one to lead (or, for a task, to ask for) the next round. Waking every waiter after every round (a condition
//! variable's `notify_all`) costs a context switch per waiter per round, which with dozens of
//! writers costs more than the sync itself.
//!
//! Within a round, files are synced logs first, then tombstone files, then directories: a
//! tombstone must never be durable while the entry it names is not, and a removal must not be
//! durable before the checkpoint that preserves what the removed files carried. The group
//! journal has a queue of its own: its records only name entries already durable (a reader saw
//! them in a published view), so it needs no place in the log's order.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Poll;
use std::task::Waker;
use std::thread::Thread;

use crate::storage::fs::File;
use crate::storage::segment::FileKind;

/// How a dirty file is held until its sync.
#[derive(Clone)]
pub enum FileRef {
    /// Kept open: the sync uses the descriptor that did the writes, so a write-back error is
    /// reported to it. Used under `always`, where a sync follows within milliseconds.
    Held(Arc<dyn File>),
    /// Not kept open: under `everysec` and `no` a sync may be a second or a close away, and
    /// holding every written file open until then would break the open-file budget. The sync
    /// reopens the file if the handle cache has let it go.
    Weak(Weak<dyn File>),
}

impl FileRef {
    /// Holds `file` as the fsync policy wants.
    pub fn new(file: Arc<dyn File>, hold: bool) -> FileRef {
        if hold {
            FileRef::Held(file)
        } else {
            FileRef::Weak(Arc::downgrade(&file))
        }
    }

    /// The open file, if still open.
    pub fn get(&self) -> Option<Arc<dyn File>> {
        match self {
            FileRef::Held(file) => Some(Arc::clone(file)),
            FileRef::Weak(file) => file.upgrade(),
        }
    }
}

/// Something a transaction changed that a sync must make durable.
#[derive(Clone)]
pub enum Dirty {
    /// A segment file's data.
    File {
        /// The segment.
        segment: u64,
        /// Which of its files.
        kind: FileKind,
        /// The file.
        file: FileRef,
    },
    /// A directory's entries (files created or removed).
    Dir(PathBuf),
}

impl Dirty {
    fn order(&self) -> u8 {
        match self {
            Dirty::File {
                kind: FileKind::Log | FileKind::Index,
                ..
            } => 0,
            Dirty::File {
                kind: FileKind::Deletions | FileKind::Journal,
                ..
            } => 1,
            Dirty::Dir(_) => 2,
        }
    }

    /// Whether this is the group journal (synced in its own queue under `always`).
    pub fn is_journal(&self) -> bool {
        matches!(
            self,
            Dirty::File {
                kind: FileKind::Journal,
                ..
            }
        )
    }

    fn same_target(&self, other: &Dirty) -> bool {
        match (self, other) {
            (
                Dirty::File {
                    segment: a,
                    kind: ka,
                    ..
                },
                Dirty::File {
                    segment: b,
                    kind: kb,
                    ..
                },
            ) => a == b && ka == kb,
            (Dirty::Dir(a), Dirty::Dir(b)) => a == b,
            _ => false,
        }
    }
}

/// Adds `item` to `list` unless an entry for the same file is there.
pub fn add_dirty(list: &mut Vec<Dirty>, item: Dirty) {
    if !list.iter().any(|existing| existing.same_target(&item)) {
        list.push(item);
    }
}

/// What a sync round does, for the queue that leads it.
pub trait Round<V> {
    /// Syncs what `batch` dirtied and publishes its view.
    fn sync(&self, batch: &mut Batch<V>) -> Result<(), String>;

    /// Runs after the round's writers are woken: tells the stream's followers (blocked
    /// readers, Tails) what the round published. The writers hear first, so a writer's next
    /// request is on its way while the followers are served, as Redis replies to a writer
    /// before it serves the clients blocked on the key.
    fn announce(&self) {}
}

/// What one sync round makes durable and then publishes.
pub struct Batch<V> {
    /// The newest sequence number covered.
    pub seq: u64,
    /// The view to publish once durable.
    pub view: V,
    /// What to sync, in safe order.
    pub dirty: Vec<Dirty>,
}

struct State<V> {
    enqueued: u64,
    durable: u64,
    leading: bool,
    view: Option<V>,
    dirty: Vec<Dirty>,
    failure: Option<String>,
    /// Writers asleep until a round covers their sequence number or asks them to lead.
    waiters: Vec<Arc<Waiter>>,
}

/// A writer waiting for its write to be durable: a parked thread, or a task to be woken.
struct Waiter {
    seq: u64,
    parker: Parker,
    woken: AtomicBool,
}

enum Parker {
    Thread(Thread),
    Task(Waker),
}

impl Waiter {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        match &self.parker {
            Parker::Thread(thread) => thread.unpark(),
            Parker::Task(waker) => waker.wake_by_ref(),
        }
    }
}

/// The queue of writes waiting to become durable, for one stream.
pub struct CommitQueue<V> {
    state: Mutex<State<V>>,
    /// Set once a sync failed; lets the write path check without taking the lock.
    failed: AtomicBool,
    /// Asks a committer thread for a round (see [`CommitQueue::set_scheduler`]).
    scheduler: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl<V> CommitQueue<V> {
    /// An empty queue; `durable` is the sequence number already durable.
    pub fn new(durable: u64) -> CommitQueue<V> {
        CommitQueue {
            state: Mutex::new(State {
                enqueued: durable,
                durable,
                leading: false,
                view: None,
                dirty: Vec::new(),
                failure: None,
                waiters: Vec::new(),
            }),
            failed: AtomicBool::new(false),
            scheduler: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<V>> {
        crate::lock::lock(&self.state)
    }

    /// Records a write. Called with the stream's writer lock held, so sequence numbers arrive
    /// in order and the view is the newest.
    /// `dirty` is drained (its allocation stays with the caller for reuse).
    pub fn enqueue(&self, seq: u64, view: V, dirty: &mut Vec<Dirty>) {
        let mut state = self.lock();
        state.enqueued = seq;
        let replaced = state.view.replace(view);
        for item in dirty.drain(..) {
            add_dirty(&mut state.dirty, item);
        }
        drop(state);
        // The superseded view is freed outside the lock.
        drop(replaced);
    }

    /// The newest sequence number enqueued: awaiting it covers every write enqueued so far.
    pub fn enqueued(&self) -> u64 {
        self.lock().enqueued
    }

    /// The failure that stopped syncing, if any.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.lock().failure.clone()
    }

    /// Blocks until write `seq` is durable, leading sync rounds as needed. `round` syncs a
    /// batch and publishes it; an error from it fails every waiter and every later write.
    pub fn wait_durable(&self, seq: u64, round: &dyn Round<V>) -> Result<(), String> {
        let mut state = self.lock();
        loop {
            if state.durable >= seq {
                return Ok(());
            }
            if let Some(failure) = &state.failure {
                return Err(failure.clone());
            }
            if state.leading {
                let waiter = Arc::new(Waiter {
                    seq,
                    parker: Parker::Thread(std::thread::current()),
                    woken: AtomicBool::new(false),
                });
                state.waiters.push(Arc::clone(&waiter));
                drop(state);
                while !waiter.woken.load(Ordering::Acquire) {
                    std::thread::park();
                }
                state = self.lock();
                continue;
            }
            state = self.lead(state, round);
        }
    }

    /// Sets what asks a committer thread to lead a round for this queue: tasks cannot lead
    /// one themselves (a round blocks on a sync).
    pub fn set_scheduler(&self, scheduler: Box<dyn Fn() + Send + Sync>) {
        let _ = self.scheduler.set(scheduler);
    }

    fn schedule(&self) {
        if let Some(scheduler) = self.scheduler.get() {
            scheduler();
        }
    }

    /// Asks for a round if something enqueued is not yet durable and no round is running:
    /// for a write nobody awaits (a task that awaits one asks by itself).
    pub fn request_round(&self) {
        let state = self.lock();
        let wanted = !state.leading && state.durable < state.enqueued;
        drop(state);
        if wanted {
            self.schedule();
        }
    }

    /// For a task awaiting write `seq`: ready once it is durable (or syncing failed). While
    /// not, `waker` is woken when it is, and a round is asked for if none is running.
    pub fn poll_durable(&self, seq: u64, waker: &Waker) -> Poll<Result<(), String>> {
        let mut state = self.lock();
        if state.durable >= seq {
            return Poll::Ready(Ok(()));
        }
        if let Some(failure) = &state.failure {
            return Poll::Ready(Err(failure.clone()));
        }
        // One registration per task: replace a previous one (a future polled again).
        state
            .waiters
            .retain(|waiter| !matches!(&waiter.parker, Parker::Task(old) if old.will_wake(waker)));
        state.waiters.push(Arc::new(Waiter {
            seq,
            parker: Parker::Task(waker.clone()),
            woken: AtomicBool::new(false),
        }));
        let idle = !state.leading;
        drop(state);
        if idle {
            self.schedule();
        }
        Poll::Pending
    }

    /// Leads rounds for waiting tasks, one after another in this thread, for as long as tasks
    /// wait and up to `rounds_max` rounds (then the next is scheduled, so other streams get
    /// their turn); returns at once if a round is already running (its end leads or schedules
    /// the next). For committer threads, which must never wait on another leader: leading the
    /// next round here saves handing it to another thread.
    pub fn try_lead(&self, round: &dyn Round<V>, rounds_max: usize) {
        for _ in 0..rounds_max {
            let state = self.lock();
            if state.leading || state.failure.is_some() || state.durable >= state.enqueued {
                return;
            }
            let (state, tasks_left) = self.lead_for_tasks(state, round);
            drop(state);
            if !tasks_left {
                return;
            }
        }
        self.schedule();
    }

    /// Syncs whatever is enqueued, if anything (the `everysec` tick, and shutdown).
    pub fn flush(&self, round: &dyn Round<V>) -> Result<(), String> {
        let target = self.lock().enqueued;
        self.wait_durable(target, round)
    }

    /// One round led by a thread that waits for it: tasks left waiting get a committer.
    fn lead<'a>(
        &'a self,
        state: MutexGuard<'a, State<V>>,
        round: &dyn Round<V>,
    ) -> MutexGuard<'a, State<V>> {
        let (state, tasks_left) = self.lead_for_tasks(state, round);
        if tasks_left {
            self.schedule();
        }
        state
    }

    /// One round; returns whether only tasks are left waiting (a thread left waiting has been
    /// woken to lead the next round).
    fn lead_for_tasks<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<V>>,
        round: &dyn Round<V>,
    ) -> (MutexGuard<'a, State<V>>, bool) {
        let Some(view) = state.view.take() else {
            // Nothing enqueued beyond what is durable (a flush with nothing to do).
            state.durable = state.enqueued;
            return (state, false);
        };
        state.leading = true;
        let mut batch = Batch {
            seq: state.enqueued,
            view,
            dirty: std::mem::take(&mut state.dirty),
        };
        batch.dirty.sort_by_key(Dirty::order);
        drop(state);
        let started = std::time::Instant::now();
        let outcome = round.sync(&mut batch);
        metrics::histogram!("sluice_sync_seconds").record(started.elapsed().as_secs_f64());
        let mut state = self.lock();
        state.leading = false;
        match outcome {
            Ok(()) => state.durable = state.durable.max(batch.seq),
            Err(failure) => {
                state.failure = Some(failure);
                self.failed.store(true, Ordering::Release);
            }
        }
        // Wake the writers this round covered (all of them, after a failure). Of the rest, the
        // oldest thread leads the next round; if only tasks are left, a committer does.
        let (durable, failed) = (state.durable, state.failure.is_some());
        let mut next_leader: Option<Arc<Waiter>> = None;
        let mut tasks_left = false;
        let mut covered = 0u32;
        for waiter in std::mem::take(&mut state.waiters) {
            if failed || waiter.seq <= durable {
                waiter.wake();
                covered += 1;
                continue;
            }
            match &waiter.parker {
                Parker::Task(_) => tasks_left = true,
                Parker::Thread(_)
                    if next_leader
                        .as_ref()
                        .is_none_or(|leader| waiter.seq < leader.seq) =>
                {
                    if let Some(previous) = next_leader.replace(Arc::clone(&waiter)) {
                        state.waiters.push(previous);
                    }
                    continue;
                }
                Parker::Thread(_) => {}
            }
            state.waiters.push(waiter);
        }
        metrics::histogram!("sluice_sync_batch_writers").record(f64::from(covered));
        // Announced without the lock: telling many followers takes a while, and this stream's
        // writers enqueue under it meanwhile.
        drop(state);
        round.announce();
        let state = self.lock();
        match next_leader {
            Some(leader) => {
                leader.wake();
                (state, false)
            }
            None => (state, tasks_left),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    /// In these tests a closure is a round that announces nothing.
    impl<V, F: Fn(&mut Batch<V>) -> Result<(), String>> Round<V> for F {
        fn sync(&self, batch: &mut Batch<V>) -> Result<(), String> {
            self(batch)
        }
    }

    #[test]
    fn one_round_covers_everything_enqueued() {
        let queue = CommitQueue::<u64>::new(0);
        for seq in 1..=5 {
            queue.enqueue(seq, seq, &mut Vec::new());
        }
        let rounds = AtomicUsize::new(0);
        let published = Mutex::new(0);
        let round = |batch: &mut Batch<u64>| {
            rounds.fetch_add(1, Ordering::SeqCst);
            *published.lock().unwrap() = batch.view;
            Ok(())
        };
        queue.wait_durable(3, &round).unwrap();
        queue.wait_durable(5, &round).unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 1);
        assert_eq!(*published.lock().unwrap(), 5);
    }

    #[test]
    fn many_concurrent_waiters_all_return_and_share_rounds() {
        let queue = Arc::new(CommitQueue::<u64>::new(0));
        let next = Arc::new(Mutex::new(0u64));
        let rounds = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (queue, next, rounds) =
                    (Arc::clone(&queue), Arc::clone(&next), Arc::clone(&rounds));
                thread::spawn(move || {
                    for _ in 0..200 {
                        let seq = {
                            // Sequence numbers are handed out and enqueued under one lock, as the
                            // stream's writer lock does.
                            let mut next = next.lock().unwrap();
                            *next += 1;
                            queue.enqueue(*next, *next, &mut Vec::new());
                            *next
                        };
                        let round = |_: &mut Batch<u64>| {
                            rounds.fetch_add(1, Ordering::SeqCst);
                            thread::sleep(std::time::Duration::from_micros(200));
                            Ok(())
                        };
                        queue.wait_durable(seq, &round).unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let rounds = rounds.load(Ordering::SeqCst);
        assert!(rounds < 3200, "{rounds} rounds for 3200 writes: no sharing");
    }

    #[test]
    fn failure_reaches_every_waiter() {
        let queue = Arc::new(CommitQueue::<u64>::new(0));
        queue.enqueue(1, 1, &mut Vec::new());
        let round = |_: &mut Batch<u64>| Err("disk on fire".to_string());
        assert!(queue.wait_durable(1, &round).is_err());
        let other = Arc::clone(&queue);
        let result = thread::spawn(move || other.wait_durable(1, &|_: &mut Batch<u64>| Ok(())))
            .join()
            .unwrap();
        assert_eq!(result, Err("disk on fire".to_string()));
    }

    /// Records the order of wake-ups and announcements.
    struct Events(Mutex<Vec<&'static str>>);

    impl std::task::Wake for Events {
        fn wake(self: Arc<Self>) {
            self.0.lock().unwrap().push("writer woken");
        }
    }

    struct Announcing(Arc<Events>);

    impl Round<u64> for Announcing {
        fn sync(&self, _: &mut Batch<u64>) -> Result<(), String> {
            self.0 .0.lock().unwrap().push("synced");
            Ok(())
        }

        fn announce(&self) {
            self.0 .0.lock().unwrap().push("followers told");
        }
    }

    #[test]
    fn the_writers_are_woken_before_the_followers_are_told() {
        let queue = CommitQueue::<u64>::new(0);
        let events = Arc::new(Events(Mutex::new(Vec::new())));
        let waker = Waker::from(Arc::clone(&events));
        queue.enqueue(1, 1, &mut Vec::new());
        assert!(queue.poll_durable(1, &waker).is_pending());
        queue.try_lead(&Announcing(Arc::clone(&events)), 1);
        assert_eq!(
            *events.0.lock().unwrap(),
            ["synced", "writer woken", "followers told"]
        );
        assert!(queue.poll_durable(1, &waker).is_ready());
    }
}
