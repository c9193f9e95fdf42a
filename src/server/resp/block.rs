//! XREAD and XREADGROUP, with BLOCK: read, and if nothing is there, wait for the streams to
//! change and read again, as the gRPC side does (see `wait`).
//!
//! Before it waits, a connection sends the replies of the commands before it. While it
//! waits, it holds one of the server's `blocked_readers_max` permits (shared with gRPC's
//! blocked reads), shows as blocked in CLIENT LIST and INFO, keeps reading its socket (so a
//! client that disconnects frees the permit at once; requests pipelined behind the blocked
//! one wait in the input), and ends on its timeout (a nil reply), on CLIENT UNBLOCK (nil, or
//! Redis's `UNBLOCKED` error), or on shutdown. Inside EXEC a blocking read does not wait.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use super::socket::Socket;
use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::command::{XRead, XReadGroup};
use crate::engine::ReadGroup;
use crate::id::{IdRange, StreamId};
use crate::model::{Entry, GroupStart, ReadLimit, ReadOptions, ReadStart};
use crate::reply::{self, Reply};
use crate::server::group_read::finish_group_read;
use crate::server::limits::EntryBudget;
use crate::server::resp::clients::{Client, Unblock};
use crate::server::resp::connection::Connection;
use crate::server::status::RequestError;
use crate::server::streams::blocking;
use crate::server::wait::{Changes, Woken};

/// Why a wait ended.
enum Wake {
    /// A watched stream changed (or a pending entry may have fallen due): read again.
    Changed,
    /// The BLOCK timeout passed, or CLIENT UNBLOCK asked for a timeout.
    TimedOut,
    /// CLIENT UNBLOCK … ERROR.
    UnblockedWithError,
    /// The client disconnected.
    PeerClosed,
}

/// Redis's reply to a read ended by CLIENT UNBLOCK … ERROR.
const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// A client blocked in a read: holds its blocked-reader permit and shows it as blocked for
/// as long as it lives.
struct Blocked {
    client: Arc<Client>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.client.set_blocked(false);
    }
}

impl Connection {
    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id ….
    pub(super) async fn xread(&mut self, read: XRead) -> Result<Reply, RequestError> {
        let budget = self.shared.limits.entries_lenient(read.count);
        let engine = self.shared.engine.clone();
        let blocks = read.block_ms.is_some() && !self.in_exec;
        let mut changes = blocks.then(|| {
            Changes::subscribe(
                &engine,
                read.streams.iter().map(|(name, _)| name.as_slice()),
            )
        });
        let cursors = {
            let _gate = self.gate().await;
            let engine = engine.clone();
            let streams = read.streams;
            // `$` and explicit IDs resolve in memory; `+` may read the last entry from disk.
            if streams
                .iter()
                .all(|(_, start)| *start != ReadStart::LastEntry)
            {
                engine.resolve_starts(streams)?
            } else {
                blocking(move || Ok(engine.resolve_starts(streams)?)).await?
            }
        };
        let cursors = Arc::new(cursors);
        let found = self.read_once(&cursors, budget).await?;
        let (Some(block_ms), Some(changes)) = (read.block_ms, changes.as_mut()) else {
            return Ok(reply::xread_owned(found));
        };
        if !found.is_empty() {
            return Ok(reply::xread_owned(found));
        }
        let _blocked = self.begin_blocking().await?;
        let deadline = deadline(block_ms);
        loop {
            match self.wait_for_change(changes, deadline, None).await? {
                Wake::Changed => {}
                Wake::TimedOut | Wake::PeerClosed => return Ok(Reply::NilArray),
                Wake::UnblockedWithError => return Ok(Reply::error(UNBLOCKED_ERROR)),
            }
            let found = self.read_once(&cursors, budget).await?;
            if !found.is_empty() {
                return Ok(reply::xread_owned(found));
            }
        }
    }

    /// Reads every stream once, on the blocking pool; streams without new entries are left out.
    async fn read_once(
        &self,
        cursors: &Arc<Vec<(Vec<u8>, StreamId)>>,
        budget: EntryBudget,
    ) -> Result<Vec<(Vec<u8>, Vec<Entry>)>, RequestError> {
        let _gate = self.gate().await;
        let engine = self.shared.engine.clone();
        let limit = budget.read_limit(self.shared.limits.message_bytes_max);
        // One stream whose newest entries serve the read (a reader keeping up, the usual
        // XREAD BLOCK loop): on this task, as a recent XRANGE is.
        if let [(name, after)] = cursors.as_slice() {
            let Some(range) = after.next().map(|start| IdRange {
                start,
                end: StreamId::MAX,
            }) else {
                return Ok(Vec::new());
            };
            if let Some(found) = engine.range_if_recent(name, range, false, limit) {
                let entries = found?.unwrap_or_default();
                budget.check(entries.len())?;
                return Ok(match entries.is_empty() {
                    true => Vec::new(),
                    false => vec![(name.clone(), entries)],
                });
            }
        }
        let cursors = Arc::clone(cursors);
        blocking(move || {
            let mut found = Vec::new();
            engine.read_after(&cursors, limit, |name, entries| {
                budget.check(entries.len())?;
                let bytes = name.len() + entries.iter().map(entry_bytes).sum::<usize>();
                found.push((name.to_vec(), entries));
                Ok::<_, RequestError>(bytes)
            })?;
            Ok(found)
        })
        .await
    }

    /// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key … id ….
    pub(super) async fn xreadgroup(&mut self, read: XReadGroup) -> Result<Reply, RequestError> {
        let claim = read.claim_min_idle_ms.is_some();
        let request = self.group_request(read.clone());
        let engine = self.shared.engine.clone();
        let blocks = read.block_ms.is_some()
            && !self.in_exec
            && request
                .streams
                .iter()
                .all(|(_, start)| *start == GroupStart::New);
        let mut changes = blocks.then(|| {
            Changes::subscribe(
                &engine,
                request.streams.iter().map(|(name, _)| name.as_slice()),
            )
        });
        let outcome = {
            let _gate = self.gate().await;
            let streams = engine.read_group_streams(&request, None)?;
            let step = engine.begin_read_group(&request, &streams)?;
            drop(streams);
            finish_group_read(&engine, step).await?
        };
        let (Some(block_ms), Some(changes)) = (read.block_ms, changes.as_mut()) else {
            return Ok(reply::xreadgroup(&outcome.streams, claim));
        };
        if !outcome.streams.is_empty() {
            return Ok(reply::xreadgroup(&outcome.streams, claim));
        }
        let _blocked = self.begin_blocking().await?;
        let deadline = deadline(block_ms);
        let mut next_due = outcome.next_due;
        loop {
            let now = engine.config().clock.now_ms();
            let recheck = next_due.map(|due| Duration::from_millis(due.saturating_sub(now)));
            match self.wait_for_change(changes, deadline, recheck).await? {
                Wake::Changed => {}
                Wake::TimedOut | Wake::PeerClosed => return Ok(Reply::NilArray),
                Wake::UnblockedWithError => return Ok(Reply::error(UNBLOCKED_ERROR)),
            }
            let _gate = self.gate().await;
            let streams = engine.read_group_streams_again(&request)?;
            let step = engine.begin_read_group(&request, &streams)?;
            drop(streams);
            let outcome = finish_group_read(&engine, step).await?;
            if !outcome.streams.is_empty() {
                return Ok(reply::xreadgroup(&outcome.streams, claim));
            }
            next_due = outcome.next_due;
        }
    }

    /// The engine's request for an XREADGROUP: without COUNT (or with one beyond
    /// `count_max`) at most `count_max` entries per stream, the rest left for the next read;
    /// each stream gets its share of the reply's bytes.
    fn group_request(&self, read: XReadGroup) -> ReadGroup {
        let limits = &self.shared.limits;
        let count = read
            .count
            .and_then(|count| usize::try_from(count).ok())
            .map_or(limits.count_max, |count| count.min(limits.count_max));
        let share = limits.message_bytes_max / (2 * read.streams.len().max(1));
        ReadGroup {
            group: read.group,
            consumer: read.consumer,
            streams: read.streams,
            options: ReadOptions {
                count,
                noack: read.noack,
                claim_min_idle_ms: read.claim_min_idle_ms,
            },
            limit: ReadLimit {
                count,
                bytes: share,
                partial: true,
            },
        }
    }

    /// Before waiting: takes a blocked-reader permit, marks the client blocked (so CLIENT
    /// UNBLOCK finds it) and sends the replies queued so far.
    async fn begin_blocking(&mut self) -> Result<Blocked, RequestError> {
        let permit = Arc::clone(&self.shared.blocked_readers)
            .try_acquire_owned()
            .map_err(|_| RequestError::BlockedReadersFull {
                max: self.shared.limits.blocked_readers_max,
            })?;
        self.client.set_blocked(true);
        let blocked = Blocked {
            client: Arc::clone(&self.client),
            _permit: permit,
        };
        if self.flush().await.is_err() {
            self.peer_closed = true;
        }
        tracing::debug!(client = self.client.id, "resp: read blocked");
        Ok(blocked)
    }

    /// Waits for a change, the deadline, CLIENT UNBLOCK, the client leaving, or shutdown
    /// (an error).
    async fn wait_for_change(
        &mut self,
        changes: &mut Changes,
        deadline: Option<Instant>,
        recheck: Option<Duration>,
    ) -> Result<Wake, RequestError> {
        if self.peer_closed {
            return Ok(Wake::PeerClosed);
        }
        let shutdown = self.shared.shutdown.clone();
        let client = Arc::clone(&self.client);
        let limit = self.shared.resp.request_bytes_max;
        let mut why = Wake::TimedOut;
        let woken = {
            let until = async {
                tokio::select! {
                    how = client.unblocked() => {
                        if how == Unblock::Error {
                            why = Wake::UnblockedWithError;
                        }
                    }
                    () = sleep_until(deadline) => {}
                    () = watch_peer(&mut self.socket, &mut self.input, limit) => {
                        why = Wake::PeerClosed;
                    }
                }
            };
            changes.wait(&shutdown, until, recheck).await?
        };
        if let Wake::PeerClosed = why {
            self.peer_closed = true;
        }
        Ok(match woken {
            Woken::Changed => Wake::Changed,
            Woken::Stopped => why,
        })
    }
}

/// About what an entry takes in a reply: its ID, and each field's name and value with their
/// framing.
fn entry_bytes(entry: &Entry) -> usize {
    let fields: usize = entry
        .fields
        .iter()
        .map(|(name, value)| name.len() + value.len() + 16)
        .sum();
    32 + fields
}

/// When a BLOCK of `block_ms` ends (0: never).
fn deadline(block_ms: u64) -> Option<Instant> {
    (block_ms > 0).then(|| Instant::now() + Duration::from_millis(block_ms))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => pending().await,
    }
}

/// Reads what a blocked client sends (kept as its next requests) until it disconnects; stops
/// reading once `limit` bytes wait.
async fn watch_peer(socket: &mut Socket, input: &mut BytesMut, limit: usize) {
    loop {
        if input.len() > limit {
            return pending().await;
        }
        input.reserve(4096);
        match socket.read_buf(input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
