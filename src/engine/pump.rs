//! Sync rounds led on the runtime thread itself, between batches of tasks.
//!
//! This is how Redis makes `appendfsync always` cheap: its event loop runs every command that
//! is ready, then, before it sleeps, writes and syncs the append-only file once for all of
//! them, then sends their replies. A [`SyncPump`] does the same on a current-thread runtime
//! (a server with `--worker-threads 1`): a task that awaits durability hands its round
//! request to the pump instead of waking a commit thread. The pump is a task like the others,
//! woken by the first request; it is queued behind every task already runnable, so by the
//! time it runs they have all made their writes, and one round covers them. The round
//! blocks this thread for the sync (as Redis's does), then wakes the waiting tasks on this
//! same thread, where they run next. Before it syncs, the pump lets the runtime poll for I/O
//! twice more, so requests that arrived meanwhile join the round.
//!
//! Against commit threads this saves, per round, the commit thread's wake-up and sleep and
//! the cross-thread wake of every waiting task, which on a small virtual machine cost more
//! CPU than the sync itself (see the README's benchmark section).
//!
//! Each turn the pump leads one round on its thread, and first hands the others asked for in
//! the same turn (other streams', or the same stream's other queue: the group journal syncs
//! apart from the log) to the commit threads, which sync them side by side with it: syncing
//! many files one after another would stall every connection for all of them. The round it
//! leads is a stream log's if the turn asked for one ([`take_lead`]). Writes to a single
//! stream's log (the Add benchmarks) have all their rounds led here; a job pipeline that also
//! reads and acknowledges in a group has its adds synced here and, in the turns that also
//! asked for a log round, its deliveries and acknowledgements by a commit thread.
//!
//! Guarantees: every request [`offer`] accepts is run, by the pump or a commit thread; if
//! the pump is dropped first (the runtime shutting down), its requests go to the commit
//! threads. A thread without a pump refuses every offer, so requests made on it go to the
//! commit threads as before.

use std::cell::RefCell;
use std::task::{Context, Poll, Waker};

use super::round::RoundRequest;

/// Where a pump sends the requests it does not run itself: the commit threads.
pub(super) type Fallback = Box<dyn Fn(RoundRequest) + Send + Sync>;

thread_local! {
    /// The pump running on this thread, if any: the requests it has yet to run, and how to
    /// wake it.
    static INBOX: RefCell<Option<Inbox>> = const { RefCell::new(None) };
}

struct Inbox {
    rounds: Vec<RoundRequest>,
    waker: Option<Waker>,
}

/// Hands `round` to this thread's pump and wakes it; gives it back if this thread has none.
pub(super) fn offer(round: RoundRequest) -> Result<(), RoundRequest> {
    INBOX.with(|inbox| {
        let mut inbox = inbox.borrow_mut();
        let Some(inbox) = inbox.as_mut() else {
            return Err(round);
        };
        inbox.rounds.push(round);
        if let Some(waker) = inbox.waker.take() {
            waker.wake();
        }
        Ok(())
    })
}

/// Driver passes a pump lets go by before it syncs: the writes of requests that arrive
/// meanwhile join the round. Two passes: the first reads the new requests, the second runs
/// the call tasks they spawned. Measured in the README (benchmarks): 0, 1, 2 and 4 passes.
const PASSES_BEFORE_SYNC: usize = 2;

/// Leads, on the thread that runs it, the sync rounds that tasks on that thread ask for.
/// Spawn [`SyncPump::run`] on a current-thread runtime (on a multi-thread runtime it would
/// serve only the worker that first polled it, and tasks move between workers).
pub struct SyncPump {
    /// Where the requests it does not run go.
    fallback: Fallback,
}

impl SyncPump {
    pub(super) fn new(fallback: Fallback) -> SyncPump {
        SyncPump { fallback }
    }

    /// Runs the pump; never returns. A second pump on a thread that has one does nothing.
    pub async fn run(self) {
        let Some(inbox) = Installed::here(self.fallback) else {
            return std::future::pending().await;
        };
        loop {
            std::future::poll_fn(requests_waiting).await;
            for _ in 0..PASSES_BEFORE_SYNC {
                tokio::task::yield_now().await;
            }
            let mut rounds = INBOX.with(|inbox| {
                inbox
                    .borrow_mut()
                    .as_mut()
                    .map(|inbox| std::mem::take(&mut inbox.rounds))
                    .unwrap_or_default()
            });
            // One round here, with the inbox released (it may ask for the next one). The
            // others (other streams, or a stream's other queue) go to the commit threads first,
            // to sync side by side with this one: a thread that synced many files one after
            // another would stall every connection for all of them.
            let lead = take_lead(&mut rounds);
            for round in rounds {
                inbox.forward(round);
            }
            if let Some(round) = lead {
                round.run(1);
                #[cfg(test)]
                tests::RUN_HERE.with(|run| run.set(run.get() + 1));
            }
        }
    }
}

/// Takes the round a pump leads itself out of a turn's requests: the first asked for a
/// stream's log, or else the first of all. Every XADD awaits a log round, so leading those
/// here keeps the adds' wake-ups on this thread, and a group journal's round (deliveries and
/// acknowledgements, each covering a batch) goes to a commit thread when both are asked for.
/// Against leading whichever was asked for first, a job pipeline spent 2–12 % less CPU an
/// entry and carried 3–12 % more, on the streaming consumer 12–19 % less and 12–15 % more
/// (the README's benchmark section).
fn take_lead(rounds: &mut Vec<RoundRequest>) -> Option<RoundRequest> {
    if rounds.is_empty() {
        return None;
    }
    let at = rounds.iter().position(RoundRequest::is_log).unwrap_or(0);
    Some(rounds.swap_remove(at))
}

/// Ready once the inbox holds a request; until then the pump's waker waits in it.
fn requests_waiting(context: &mut Context<'_>) -> Poll<()> {
    INBOX.with(|inbox| {
        let mut inbox = inbox.borrow_mut();
        let Some(inbox) = inbox.as_mut() else {
            return Poll::Pending;
        };
        if inbox.rounds.is_empty() {
            inbox.waker = Some(context.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

/// This thread's inbox, installed for as long as the pump runs; requests left in it when
/// the pump is dropped (the runtime shutting down) go to the commit threads.
struct Installed {
    fallback: Fallback,
}

impl Installed {
    fn here(fallback: Fallback) -> Option<Installed> {
        INBOX.with(|inbox| {
            let mut inbox = inbox.borrow_mut();
            if inbox.is_some() {
                return None;
            }
            *inbox = Some(Inbox {
                rounds: Vec::new(),
                waker: None,
            });
            Some(Installed { fallback })
        })
    }

    fn forward(&self, round: RoundRequest) {
        (self.fallback)(round);
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // `try_with`: the thread's locals may already be gone when a runtime is dropped at
        // thread exit.
        let left = INBOX
            .try_with(|inbox| inbox.borrow_mut().take())
            .ok()
            .flatten();
        for round in left.map(|inbox| inbox.rounds).unwrap_or_default() {
            self.forward(round);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::Future;
    use std::time::Duration;

    use super::INBOX;

    use crate::model::{NewEntry, ReadLimit};
    use crate::{AddId, Config, Engine, FsyncPolicy, IdRange};

    thread_local! {
        /// Round requests a pump ran on this thread.
        pub(super) static RUN_HERE: Cell<u64> = const { Cell::new(0) };
    }

    /// An engine syncing every write (in a temporary directory, kept alive by the first
    /// value) and a current-thread runtime.
    fn durable_engine() -> (tempfile::TempDir, Engine, tokio::runtime::Runtime) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::Always;
        let engine = Engine::open(config).expect("the engine opens");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (dir, engine, runtime)
    }

    fn entry(n: u64) -> NewEntry {
        NewEntry {
            id: AddId::Auto,
            fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
        }
    }

    /// Concurrent async writers on a current-thread runtime: every write is acknowledged and
    /// present, and the pump, not a commit thread, led their syncs, fewer than one a write.
    #[test]
    fn a_pump_leads_the_rounds_its_threads_tasks_await() {
        let (_dir, engine, runtime) = durable_engine();
        let (writers, each) = (8u64, 25u64);
        runtime.block_on(async {
            tokio::spawn(engine.sync_pump().run());
            let tasks: Vec<_> = (0..writers)
                .map(|writer| {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        for n in 0..each {
                            let commit = engine
                                .add_deferred(b"s", &[entry(writer * 1000 + n)], false, None)
                                .expect("an add");
                            let ids = commit.await.expect("durable").expect("ids");
                            assert_eq!(ids.len(), 1);
                        }
                    })
                })
                .collect();
            for task in tasks {
                tokio::time::timeout(Duration::from_secs(30), task)
                    .await
                    .expect("a writer hung")
                    .expect("a writer panicked");
            }
        });
        let run = RUN_HERE.with(Cell::get);
        assert!(run > 0, "the pump led no round");
        assert!(
            run < writers * each,
            "{run} round requests for {} writes: none shared",
            writers * each
        );
        let entries = engine
            .range(b"s", IdRange::ALL, false, ReadLimit::count(usize::MAX))
            .expect("a range")
            .expect("the stream");
        assert_eq!(entries.len() as u64, writers * each);
    }

    /// On a thread without a pump, offers are refused and the commit threads lead the rounds
    /// its tasks await.
    #[test]
    fn without_a_pump_the_commit_threads_lead() {
        let (_dir, engine, runtime) = durable_engine();
        runtime.block_on(async {
            for n in 0..20 {
                let commit = engine
                    .add_deferred(b"s", &[entry(n)], false, None)
                    .expect("an add");
                tokio::time::timeout(Duration::from_secs(30), commit)
                    .await
                    .expect("a write hung")
                    .expect("durable");
            }
        });
        assert_eq!(RUN_HERE.with(Cell::get), 0);
    }

    /// A request still in the inbox when the runtime (and so the pump) is dropped goes to the
    /// commit threads: the stream's "already requested" flag is cleared, so a later writer
    /// elsewhere gets its sync instead of waiting for a request nobody will run.
    #[test]
    fn requests_left_at_drop_go_to_the_commit_threads() {
        let (_dir, engine, runtime) = durable_engine();
        runtime.block_on(async {
            tokio::spawn(engine.sync_pump().run());
            // Let the pump install its inbox.
            tokio::task::yield_now().await;
            let mut commit = engine
                .add_deferred(b"s", &[entry(1)], false, None)
                .expect("an add");
            // Polled once: the round request is offered to the pump, which does not get to
            // run before the runtime goes.
            std::future::poll_fn(|context| {
                let polled = std::pin::Pin::new(&mut commit).poll(context);
                assert!(polled.is_pending(), "durable before any sync");
                std::task::Poll::Ready(())
            })
            .await;
        });
        drop(runtime);
        assert!(
            INBOX.with(|inbox| inbox.borrow().is_none()),
            "the inbox went with the pump"
        );
        let other = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        other.block_on(async {
            let commit = engine
                .add_deferred(b"s", &[entry(2)], false, None)
                .expect("an add");
            tokio::time::timeout(Duration::from_secs(10), commit)
                .await
                .expect("a write hung: the request left in the inbox was lost")
                .expect("durable");
        });
    }

    /// Of a turn's requests the pump leads a stream log's, wherever it was asked for, and
    /// forwards the rest; a turn without one has its first request led.
    #[test]
    fn a_turn_leads_a_log_round_if_it_asked_for_one() {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Weak};

        use super::super::round::RoundRequest;
        use super::take_lead;
        use crate::storage::log::CommitQueueKind::{Journal, Log};

        let request =
            |queue| RoundRequest::new(Weak::new(), Arc::new(AtomicBool::new(true)), queue);
        let mut rounds = vec![request(Journal), request(Log), request(Journal)];
        let lead = take_lead(&mut rounds).expect("a round to lead");
        assert!(
            lead.is_log(),
            "the log's round is led, not the first asked for"
        );
        assert_eq!(
            rounds.len(),
            2,
            "the two journal rounds are left to forward"
        );
        assert!(rounds.iter().all(|round| !round.is_log()));

        let mut journals = vec![request(Journal), request(Journal)];
        assert!(!take_lead(&mut journals).expect("a round to lead").is_log());
        assert_eq!(journals.len(), 1);
        assert!(take_lead(&mut Vec::new()).is_none());
    }
}
