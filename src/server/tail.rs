//! Tail: an endless XREAD BLOCK on one stream, as a server stream of batches.
//!
//! Back-pressure: each subscription has a queue of [`TAIL_QUEUE_MESSAGES`] messages between its
//! reading task and tonic. The task reserves a place in the queue *before* it reads a batch from
//! the engine, so a subscriber that does not keep up (HTTP/2 flow control stops tonic from
//! taking more) stops the reads: the server holds at most that many batches per subscriber,
//! each within half of `message_bytes_max`, however far behind the subscriber falls.
//!
//! The task waits on the stream's change notifications (see `wait`), subscribed before the
//! first read so no entry added after it is missed, and marked seen before each read. Reads of
//! history go to the blocking pool; once a read has found the end, the newest entries (in the
//! page cache) are read on the task itself. It ends when the subscriber goes away (its queue
//! closes), when the server shuts down (UNAVAILABLE), or when the stream it follows is dropped
//! (NOT_FOUND, Redis's `UNBLOCKED the stream key no longer exists`): a stream created again
//! under the same name starts its IDs afresh, so following it from the old position would
//! silently skip entries. A Tail of a stream that does not exist yet waits for it to be created
//! and follows that one.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::engine::{Engine, Followed, Follower};
use crate::id::StreamId;
use crate::model::ReadStart;
use crate::proto::v1;
use crate::server::convert;
use crate::server::limits::{Limits, TAIL_QUEUE_MESSAGES};
use crate::server::shutdown::Shutdown;
use crate::server::status::{status, RequestError};
use crate::server::streams::{blocking, StreamsService};
use crate::server::wait::{Changes, Woken};

/// One subscription's reading state, moved between the task and the blocking pool.
struct Reader {
    engine: Engine,
    follower: Follower,
    batch: usize,
    limits: Limits,
}

impl StreamsService {
    /// Starts a Tail; request errors are returned as the call's status before any message.
    pub(super) async fn tail_stream(
        &self,
        request: v1::TailRequest,
    ) -> Result<ReceiverStream<Result<v1::TailResponse, Status>>, RequestError> {
        let name = self.name(request.key)?;
        // `$` (the default) or an ID; a Tail has no use for XREAD's `+`.
        let start = match request.id.as_str() {
            "" | "$" => ReadStart::LastGenerated,
            id => ReadStart::After(StreamId::parse_strict(id.as_bytes())?),
        };
        let permit = Arc::clone(&self.tail_subscribers)
            .try_acquire_owned()
            .map_err(|_| RequestError::TailSubscribersFull {
                max: self.limits.tail_subscribers_max,
            })?;
        let changes = Changes::subscribe(&self.engine, [name.as_slice()]);
        let engine = self.engine.clone();
        let batch = self.limits.tail_batch(request.batch);
        let limits = self.limits;
        let reader = blocking(move || {
            let follower = engine.follow(&name, start)?;
            Ok(Reader {
                engine,
                follower,
                batch,
                limits,
            })
        })
        .await?;
        let (sender, receiver) = mpsc::channel(TAIL_QUEUE_MESSAGES);
        tracing::debug!(
            stream = %String::from_utf8_lossy(reader.follower.name()),
            cursor = %reader.follower.after(),
            "tail started"
        );
        tokio::spawn(follow(
            reader,
            changes,
            sender,
            self.shutdown.clone(),
            permit,
        ));
        Ok(ReceiverStream::new(receiver))
    }
}

/// The subscription's task; the permit is held for as long as it runs.
async fn follow(
    reader: Reader,
    changes: Changes,
    sender: mpsc::Sender<Result<v1::TailResponse, Status>>,
    shutdown: Shutdown,
    _permit: OwnedSemaphorePermit,
) {
    let name = String::from_utf8_lossy(reader.follower.name()).into_owned();
    let ended = run(reader, changes, &sender, &shutdown).await;
    tracing::debug!(stream = %name, "tail ended");
    if let Err(error) = ended {
        // Delivered after what is already queued; if the subscriber never reads it, the
        // shutdown grace period bounds the wait.
        tokio::select! {
            _ = sender.send(Err(status(error))) => {}
            () = sender.closed() => {}
        }
    }
}

/// Sends batches until the subscriber leaves (`Ok`) or the subscription must end (`Err`).
async fn run(
    mut reader: Reader,
    mut changes: Changes,
    sender: &mpsc::Sender<Result<v1::TailResponse, Status>>,
    shutdown: &Shutdown,
) -> Result<(), RequestError> {
    // Caught up: a read has found the end of the stream, so what follows are the newest
    // entries, in the page cache, cheap enough to read on this task. Behind (reading history,
    // perhaps cold on disk, or fallen behind by a whole batch), reads go to the blocking pool.
    let mut caught_up = false;
    loop {
        // Room first, then the read: this is the back-pressure.
        if sender.capacity() == 0 {
            tracing::debug!(
                stream = %String::from_utf8_lossy(reader.follower.name()),
                "tail queue full; waiting for the subscriber"
            );
        }
        let slot = tokio::select! {
            biased;
            () = shutdown.fired() => return Err(RequestError::ShuttingDown),
            slot = sender.reserve() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()),
            },
        };
        // Everything committed before this point is in what the read returns.
        changes.mark_seen();
        let batch = if caught_up {
            reader.next_batch()?
        } else {
            let (next, batch) = blocking(move || {
                let batch = reader.next_batch()?;
                Ok((reader, batch))
            })
            .await?;
            reader = next;
            batch
        };
        match batch {
            Followed::Entries(entries) => {
                if entries.len() >= reader.batch {
                    caught_up = false;
                }
                let entries = convert::entries_to_proto(entries);
                slot.send(Ok(v1::TailResponse { entries }));
                if !reader.follower.at_end() {
                    continue;
                }
                // The read reached the end: wait for the next change rather than read again
                // to find nothing (a change since `mark_seen` wakes the wait at once).
                caught_up = true;
            }
            Followed::Dropped => return Err(crate::error::Error::StreamGone.into()),
            Followed::Nothing => {
                caught_up = true;
                drop(slot);
            }
        }
        // Nothing more until the stream changes (or the subscriber leaves).
        if changes.wait(shutdown, sender.closed(), None).await? == Woken::Stopped {
            return Ok(());
        }
    }
}

impl Reader {
    /// The next batch after the follower's position, moving it.
    fn next_batch(&mut self) -> Result<Followed, RequestError> {
        let limit = self.limits.tail_read_limit(self.batch);
        Ok(self.engine.follow_next(&mut self.follower, limit)?)
    }
}
