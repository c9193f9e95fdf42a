//! Consume: a streaming consumer — one consumer of one group on one stream, as a
//! bidirectional call.
//!
//! The first message names the stream, group and consumer and the window. While fewer than
//! `window` entries delivered on the call are unsettled, the server reads `>` for the group
//! (lease redeliveries and released entries first, then new entries) and pushes what it finds;
//! when there is nothing, it waits for the stream to change, an entry to fall due, or a message
//! from the client. The client settles entries on the same call — ack, nack (with a delay, or
//! reject to the dead-letter stream), renew — and each settle is answered, in order, with what
//! it did. An entry settled by ack or nack frees its place in the window.
//!
//! Ending the call leaves what it holds pending, as a Redis consumer that disconnects does:
//! another reader gets it by claim or lease. The call ends with UNAVAILABLE on shutdown,
//! `UNBLOCKED …` if the stream is deleted, NOGROUP if the group is destroyed, and a settle's
//! error (an entry the consumer does not hold) ends it too. Its queue toward tonic is small and
//! reserved before each read, so a client that stops reading stops the reads (back-pressure,
//! as Tail has).

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::engine::{Engine, ReadGroup, StreamIdentity};
use crate::id::StreamId;
use crate::model::{GroupStart, ReadLimit, ReadOptions};
use crate::proto::groups as wire;
use crate::proto::v1;
use crate::server::access::{Needs, Principal};
use crate::server::group_read::finish_group_read;
use crate::server::groups::{ids, required, GroupsService};
use crate::server::limits::TAIL_QUEUE_MESSAGES;
use crate::server::shutdown::Shutdown;
use crate::server::status::{status, RequestError};
use crate::server::streams::blocking;
use crate::server::wait::{Changes, Woken};

type Outbound = mpsc::Sender<Result<v1::ConsumeResponse, Status>>;

/// One streaming consumer's state, moved between its task and the blocking pool.
struct Consumer {
    engine: Engine,
    read: Arc<ReadGroup>,
    identity: Arc<Vec<StreamIdentity>>,
    window: usize,
    /// Entries delivered on this call and not yet acknowledged or released.
    unsettled: BTreeSet<StreamId>,
    /// When a pending entry next falls due again (a lease or release running out).
    next_due: Option<u64>,
}

impl GroupsService {
    /// Starts a streaming consumer: the start message is read and checked (stream and group
    /// exist) before the call is answered, so those errors are the call's status.
    pub(super) async fn start_consumer(
        &self,
        principal: Principal,
        mut inbound: Streaming<v1::ConsumeRequest>,
    ) -> Result<ReceiverStream<Result<v1::ConsumeResponse, Status>>, RequestError> {
        let start = match inbound.message().await {
            Ok(Some(v1::ConsumeRequest {
                message: Some(v1::consume_request::Message::Start(start)),
            })) => start,
            _ => return Err(RequestError::ConsumeWithoutStart),
        };
        principal.check(start.needs())?;
        let name = self.name(start.key)?;
        let window = self.limits.consume_window(start.window);
        let read = ReadGroup {
            group: required(start.group_name, "group")?,
            consumer: required(start.consumer_name, "consumer")?,
            streams: vec![(name.clone(), GroupStart::New)],
            options: ReadOptions::default(),
            limit: ReadLimit {
                count: window,
                bytes: self.limits.message_bytes_max / 2,
                partial: true,
            },
        };
        let permit = Arc::clone(&self.consumers)
            .try_acquire_owned()
            .map_err(|_| RequestError::ConsumersFull {
                max: self.limits.consumers_max,
            })?;
        let changes = Changes::subscribe(&self.engine, [name.as_slice()]);
        let identity = Engine::identities(&self.engine.read_group_streams(&read, None)?);
        let read = Arc::new(read);
        let consumer = Consumer {
            engine: self.engine.clone(),
            read,
            identity: Arc::new(identity),
            window,
            unsettled: BTreeSet::new(),
            next_due: None,
        };
        let (sender, receiver) = mpsc::channel(TAIL_QUEUE_MESSAGES);
        let service = self.clone_handle();
        tokio::spawn(async move {
            let ended = service.run(consumer, changes, inbound, &sender).await;
            if let Err(error) = ended {
                tokio::select! {
                    _ = sender.send(Err(status(error))) => {}
                    () = sender.closed() => {}
                }
            }
            drop::<OwnedSemaphorePermit>(permit);
        });
        Ok(ReceiverStream::new(receiver))
    }

    fn clone_handle(&self) -> Handle {
        Handle {
            shutdown: self.shutdown.clone(),
            clock: Arc::clone(&self.engine.config().clock),
        }
    }
}

/// What a consumer's task needs of the service.
struct Handle {
    shutdown: Shutdown,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Handle {
    /// Delivers and settles until the client goes away (`Ok`) or the call must end (`Err`).
    async fn run(
        &self,
        mut consumer: Consumer,
        mut changes: Changes,
        mut inbound: Streaming<v1::ConsumeRequest>,
        sender: &Outbound,
    ) -> Result<(), RequestError> {
        loop {
            let room = consumer.window.saturating_sub(consumer.unsettled.len());
            if room > 0 {
                let slot = tokio::select! {
                    biased;
                    () = self.shutdown.fired() => return Err(RequestError::ShuttingDown),
                    slot = sender.reserve() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return Ok(()),
                    },
                };
                changes.mark_seen();
                if let Some(entries) = consumer.deliver(room).await? {
                    slot.send(Ok(v1::ConsumeResponse {
                        message: Some(v1::consume_response::Message::Entries(entries)),
                    }));
                    continue;
                }
            }
            let recheck = consumer.next_due.filter(|_| room > 0).map(|due| {
                std::time::Duration::from_millis(due.saturating_sub(self.clock.now_ms()))
            });
            tokio::select! {
                biased;
                message = inbound.message() => match message {
                    Ok(Some(request)) => {
                        let settled = consumer.settle(request).await?;
                        let reply = v1::ConsumeResponse {
                            message: Some(v1::consume_response::Message::Settled(settled)),
                        };
                        if sender.send(Ok(reply)).await.is_err() {
                            return Ok(());
                        }
                    }
                    // The client is done, or gone: what it holds stays pending.
                    Ok(None) | Err(_) => return Ok(()),
                },
                woken = changes.wait(&self.shutdown, sender.closed(), recheck), if room > 0 => {
                    if woken? == Woken::Stopped {
                        return Ok(());
                    }
                }
                () = self.shutdown.fired(), if room == 0 => return Err(RequestError::ShuttingDown),
            }
        }
    }
}

impl Consumer {
    /// Reads `>` for up to `room` entries; `None` if nothing was there. Its first step runs
    /// on this task (as a unary group read's does), the wait for durability is an await.
    async fn deliver(
        &mut self,
        room: usize,
    ) -> Result<Option<v1::GroupStreamEntries>, RequestError> {
        let mut read = (*self.read).clone();
        read.options.count = room;
        read.limit.count = room;
        let streams = self
            .engine
            .read_group_streams(&read, Some(&self.identity))?;
        let step = self.engine.begin_read_group(&read, &streams)?;
        drop(streams);
        let mut outcome = finish_group_read(&self.engine, step).await?;
        self.next_due = outcome.next_due;
        let Some((name, delivered)) = outcome.streams.pop() else {
            return Ok(None);
        };
        self.unsettled
            .extend(delivered.deliveries.iter().map(|delivery| delivery.id));
        Ok(Some(wire::group_read_to_proto(name, delivered)))
    }

    /// Carries out one settle message: an ack on this task (awaiting durability), a nack or
    /// renewal (which wait for syncs, and a nack may move dead letters) on the blocking pool.
    async fn settle(&mut self, request: v1::ConsumeRequest) -> Result<v1::Settled, RequestError> {
        use v1::consume_request::Message;
        let (count, settled, dead) = match request.message {
            Some(Message::Ack(settle)) => {
                let ids = ids(&settle.ids)?;
                let (stream, group) = (&self.read.streams[0].0, &self.read.group);
                let count = self.engine.ack_deferred(stream, group, &ids)?.await?;
                (count, ids, Vec::new())
            }
            Some(Message::Nack(settle)) => {
                let ids = ids(&settle.ids)?;
                let nacked = ids.clone();
                let (delay, reject) = (settle.delay_ms, settle.reject);
                let dead = self
                    .on_pool(move |engine, stream, read| {
                        Ok(engine.nack(
                            stream,
                            &read.group,
                            &read.consumer,
                            &nacked,
                            delay,
                            reject,
                        )?)
                    })
                    .await?;
                (ids.len() as u64, ids, dead)
            }
            Some(Message::Renew(settle)) => {
                let ids = ids(&settle.ids)?;
                let count = self
                    .on_pool(move |engine, stream, read| {
                        Ok(engine.renew(stream, &read.group, &read.consumer, &ids)?)
                    })
                    .await?;
                (count, Vec::new(), Vec::new())
            }
            Some(Message::Start(_)) | None => return Err(RequestError::ConsumeWithoutStart),
        };
        self.forget(&settled);
        Ok(v1::Settled {
            count,
            dead_lettered: dead.iter().map(StreamId::to_string).collect(),
        })
    }

    /// Runs `work` on the consumer's stream on the blocking pool.
    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Engine, &[u8], &ReadGroup) -> Result<T, RequestError> + Send + 'static,
    ) -> Result<T, RequestError> {
        let (engine, read) = (self.engine.clone(), Arc::clone(&self.read));
        blocking(move || work(&engine, &read.streams[0].0, &read)).await
    }

    fn forget(&mut self, ids: &[StreamId]) {
        for id in ids {
            self.unsettled.remove(id);
        }
    }
}
