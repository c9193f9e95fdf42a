//! Tail: an endless XREAD BLOCK on one stream, as a server stream of batches.
//!
//! Back-pressure: each subscription has a queue of [`TAIL_QUEUE_MESSAGES`] messages between its
//! reading task and tonic. The task reserves a place in the queue *before* it reads a batch from
//! the engine, so a subscriber that does not keep up (HTTP/2 flow control stops tonic from
//! taking more) stops the reads: the server holds at most that many batches per subscriber,
//! each within half of `message_bytes_max`, however far behind the subscriber falls.
//!
//! The task waits on the stream's change notifications, subscribed before the first read so no
//! entry added after it is missed, and marked seen before each read. Reads of history go to
//! the blocking pool; once a read has found the end, the newest entries (in the page cache) are
//! read on the task itself. It ends when the subscriber goes away (its queue closes),
//! when the server shuts down (UNAVAILABLE), or when the stream it follows is dropped
//! (NOT_FOUND, Redis's `UNBLOCKED the stream key no longer exists`): a stream created again
//! under the same name starts its IDs afresh, so following it from the old position would
//! silently skip entries. A Tail of a stream that does not exist yet waits for it to be created
//! and follows that one.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::engine::Engine;
use crate::error::Error;
use crate::id::{IdRange, StreamId};
use crate::proto::v1;
use crate::server::convert;
use crate::server::limits::{Limits, TAIL_QUEUE_MESSAGES};
use crate::server::shutdown::Shutdown;
use crate::server::status::{status, RequestError};
use crate::server::streams::{blocking, StreamsService};
use crate::stream::Stream;

/// Where a Tail starts, as requested.
enum Start {
    /// `$` (the default): only entries added from now on.
    LastGenerated,
    /// Entries with greater IDs (`0` for the whole stream).
    After(StreamId),
}

/// One subscription's reading state, moved between the task and the blocking pool.
struct Follower {
    engine: Engine,
    name: Vec<u8>,
    /// The last ID sent (or the starting point).
    cursor: StreamId,
    /// The stream being followed, once it exists; a different one under the name means the
    /// followed one was dropped.
    followed: Option<Weak<Stream>>,
    batch: usize,
    limits: Limits,
}

/// What one look at the stream found.
enum Batch {
    Entries(Vec<v1::Entry>),
    Nothing,
    Dropped,
}

impl StreamsService {
    /// Starts a Tail; request errors are returned as the call's status before any message.
    pub(super) async fn tail_stream(
        &self,
        request: v1::TailRequest,
    ) -> Result<ReceiverStream<Result<v1::TailResponse, Status>>, RequestError> {
        let name = self.name(request.key)?;
        let start = match request.id.as_str() {
            "" | "$" => Start::LastGenerated,
            id => Start::After(StreamId::parse_strict(id.as_bytes())?),
        };
        let permit = Arc::clone(&self.tail_subscribers)
            .try_acquire_owned()
            .map_err(|_| RequestError::TailSubscribersFull {
                max: self.limits.tail_subscribers_max,
            })?;
        let watch = self.engine.watch(&name);
        let engine = self.engine.clone();
        let batch = self.limits.tail_batch(request.batch);
        let limits = self.limits;
        let follower = blocking(move || {
            let stream = engine.stream(&name)?;
            let cursor = match (start, &stream) {
                (Start::After(id), _) => id,
                (Start::LastGenerated, Some(stream)) => stream.last_id(),
                (Start::LastGenerated, None) => StreamId::MIN,
            };
            Ok(Follower {
                engine,
                name,
                cursor,
                followed: stream.as_ref().map(Arc::downgrade),
                batch,
                limits,
            })
        })
        .await?;
        let (sender, receiver) = mpsc::channel(TAIL_QUEUE_MESSAGES);
        tracing::debug!(stream = %String::from_utf8_lossy(&follower.name), cursor = %follower.cursor, "tail started");
        tokio::spawn(follow(
            follower,
            watch,
            sender,
            self.shutdown.clone(),
            permit,
        ));
        Ok(ReceiverStream::new(receiver))
    }
}

/// The subscription's task; the permit is held for as long as it runs.
async fn follow(
    follower: Follower,
    watch: watch::Receiver<u64>,
    sender: mpsc::Sender<Result<v1::TailResponse, Status>>,
    shutdown: Shutdown,
    _permit: OwnedSemaphorePermit,
) {
    let name = String::from_utf8_lossy(&follower.name).into_owned();
    let ended = run(follower, watch, &sender, &shutdown).await;
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
    mut follower: Follower,
    mut watch: watch::Receiver<u64>,
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
                stream = %String::from_utf8_lossy(&follower.name),
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
        watch.borrow_and_update();
        let batch = if caught_up {
            follower.next_batch()?
        } else {
            let (next, batch) = blocking(move || {
                let batch = follower.next_batch()?;
                Ok((follower, batch))
            })
            .await?;
            follower = next;
            batch
        };
        match batch {
            Batch::Entries(entries) => {
                if entries.len() >= follower.batch {
                    caught_up = false;
                }
                slot.send(Ok(v1::TailResponse { entries }));
                continue;
            }
            Batch::Dropped => return Err(RequestError::StreamDropped),
            Batch::Nothing => {
                caught_up = true;
                drop(slot);
            }
        }
        // Nothing more until the stream changes.
        tokio::select! {
            biased;
            () = shutdown.fired() => return Err(RequestError::ShuttingDown),
            () = sender.closed() => return Ok(()),
            changed = watch.changed() => {
                if changed.is_err() {
                    // The engine is gone: nothing will ever change again.
                    return Err(RequestError::ShuttingDown);
                }
            }
        }
    }
}

impl Follower {
    /// The next batch after the cursor, advancing it.
    fn next_batch(&mut self) -> Result<Batch, RequestError> {
        let Some(stream) = self.engine.stream(&self.name)? else {
            return Ok(match self.followed {
                Some(_) => Batch::Dropped,
                None => Batch::Nothing,
            });
        };
        match &self.followed {
            Some(followed) if !std::ptr::eq(followed.as_ptr(), Arc::as_ptr(&stream)) => {
                return Ok(Batch::Dropped);
            }
            Some(_) => {}
            None => self.followed = Some(Arc::downgrade(&stream)),
        }
        let Some(start) = self.cursor.next() else {
            return Ok(Batch::Nothing);
        };
        let range = IdRange {
            start,
            end: StreamId::MAX,
        };
        let entries = match stream.range(range, false, self.limits.tail_read_limit(self.batch)) {
            Ok(entries) => entries,
            Err(Error::Dropped) => return Ok(Batch::Dropped),
            Err(error) => return Err(error.into()),
        };
        let Some(last) = entries.last() else {
            return Ok(Batch::Nothing);
        };
        self.cursor = last.id;
        Ok(Batch::Entries(convert::entries_to_proto(entries)))
    }
}
