//! The group calls that deliver entries: Read (XREADGROUP, optionally blocking), Claim
//! (XCLAIM), AutoClaim (XAUTOCLAIM), and Sluice's Nack and Renew.
//!
//! A blocking Read waits as XREAD does (see `wait`): subscribed to its streams before it first
//! reads, taking a `blocked_readers_max` permit only when it has to wait. It also wakes when a
//! pending entry falls due again (a lease or a release running out), and, like a blocked
//! XREADGROUP in Redis 7.0, ends with `UNBLOCKED the stream key no longer exists` when a stream
//! it waits on is deleted, and with NOGROUP when its group is destroyed.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use crate::command::CommandError;
use crate::engine::{Durable, Engine, GroupReadStep, ReadGroup, ReadGroupOutcome};
use crate::group::Claim;
use crate::id::{IdRange, StreamId};
use crate::model::{ClaimOptions, ClaimTime, Delivery, GroupStart, ReadLimit, ReadOptions};
use crate::proto::groups as wire;
use crate::proto::v1;
use crate::server::groups::{ids, required, GroupsService};
use crate::server::status::RequestError;
use crate::server::streams::blocking;
use crate::server::wait::{Changes, Woken};

/// XAUTOCLAIM's COUNT when none is given (Redis's).
const AUTOCLAIM_COUNT_DEFAULT: usize = 100;

/// XREADGROUP's ID for one stream: `>` (also when empty) or an ID of the consumer's history.
pub(super) fn group_start(id: &str) -> Result<GroupStart, RequestError> {
    match id {
        "" | ">" => Ok(GroupStart::New),
        "$" => Err(CommandError::LastIdInXreadgroup.into()),
        id => Ok(GroupStart::Pending(StreamId::parse_strict(id.as_bytes())?)),
    }
}

/// Claimed entries for the wire: with JUSTID, their IDs alone.
fn deliveries(deliveries: Vec<Delivery>, justid: bool) -> Vec<v1::Delivery> {
    deliveries
        .into_iter()
        .map(|delivery| match justid {
            true => v1::Delivery {
                id: delivery.id.to_string(),
                ..v1::Delivery::default()
            },
            false => wire::delivery_to_proto(delivery),
        })
        .collect()
}

/// What a group read gave, for the wire.
fn read_response(outcome: ReadGroupOutcome) -> v1::ReadGroupResponse {
    v1::ReadGroupResponse {
        streams: outcome
            .streams
            .into_iter()
            .map(|(name, read)| wire::group_read_to_proto(name, read))
            .collect(),
    }
}

impl GroupsService {
    /// The request's XREADGROUP, with COUNT bounded by `count_max` (a read without COUNT
    /// returns at most that many entries per stream: the rest stays for the next read) and
    /// each stream's share of the reply's bytes.
    fn read_request(&self, request: &mut v1::ReadGroupRequest) -> Result<ReadGroup, RequestError> {
        let group = required(request.group_name.take(), "group")?;
        let consumer = required(request.consumer_name.take(), "consumer")?;
        if request.streams.is_empty() {
            return Err(CommandError::WrongArity("xreadgroup").into());
        }
        let count = match request.count.filter(|&count| count != 0) {
            Some(count) => self.limits.entries(Some(count))?.count,
            None => self.limits.count_max,
        };
        let streams = std::mem::take(&mut request.streams)
            .into_iter()
            .map(|offset| Ok((self.name(offset.key)?, group_start(&offset.id)?)))
            .collect::<Result<Vec<_>, RequestError>>()?;
        let share = self.limits.message_bytes_max / (2 * streams.len());
        Ok(ReadGroup {
            group,
            consumer,
            streams,
            options: ReadOptions {
                count,
                noack: request.noack,
                claim_min_idle_ms: request.claim_min_idle_ms,
            },
            limit: ReadLimit {
                count,
                bytes: share,
                partial: true,
            },
        })
    }

    /// XREADGROUP.
    pub(super) async fn read_group(
        &self,
        mut request: v1::ReadGroupRequest,
    ) -> Result<v1::ReadGroupResponse, RequestError> {
        let read = self.read_request(&mut request)?;
        let blocks = request.block_ms.is_some()
            && read
                .streams
                .iter()
                .all(|(_, start)| *start == GroupStart::New);
        let mut changes = blocks.then(|| {
            Changes::subscribe(
                &self.engine,
                read.streams.iter().map(|(name, _)| name.as_slice()),
            )
        });
        // The first step on this task, as an Add's append is: it reads the groups and the
        // stream and appends to the journal under the writer lock, waiting for no sync.
        let streams = self.engine.read_group_streams(&read, None)?;
        let step = self.engine.begin_read_group(&read, &streams)?;
        drop(streams);
        let outcome = finish_group_read(&self.engine, step).await?;
        let (Some(block_ms), Some(changes)) = (request.block_ms, changes.as_mut()) else {
            return self.respond(outcome);
        };
        if !outcome.streams.is_empty() || !blocks {
            return self.respond(outcome);
        }
        let _permit = Arc::clone(&self.blocked_readers)
            .try_acquire_owned()
            .map_err(|_| RequestError::BlockedReadersFull {
                max: self.limits.blocked_readers_max,
            })?;
        let timeout = async {
            match block_ms {
                0 => pending().await,
                _ => tokio::time::sleep(Duration::from_millis(block_ms)).await,
            }
        };
        tokio::pin!(timeout);
        let mut next_due = outcome.next_due;
        loop {
            let recheck = next_due.map(|due| self.until(due));
            if changes.wait(&self.shutdown, &mut timeout, recheck).await? == Woken::Stopped {
                return Ok(v1::ReadGroupResponse::default());
            }
            let streams = self.engine.read_group_streams_again(&read)?;
            let step = self.engine.begin_read_group(&read, &streams)?;
            drop(streams);
            let outcome = finish_group_read(&self.engine, step).await?;
            if !outcome.streams.is_empty() {
                return self.respond(outcome);
            }
            next_due = outcome.next_due;
        }
    }

    fn respond(&self, outcome: ReadGroupOutcome) -> Result<v1::ReadGroupResponse, RequestError> {
        let response = read_response(outcome);
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    /// How long until Unix time `due_ms` by the engine's clock.
    pub(super) fn until(&self, due_ms: u64) -> Duration {
        let now = self.engine.config().clock.now_ms();
        Duration::from_millis(due_ms.saturating_sub(now))
    }

    /// XCLAIM.
    pub(super) async fn claim(
        &self,
        request: v1::ClaimRequest,
    ) -> Result<v1::ClaimResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let consumer = required(request.consumer_name, "consumer")?;
        let last_id = match request.last_id.as_str() {
            "" => None,
            id => Some(StreamId::parse_strict(id.as_bytes())?),
        };
        let time = match (request.idle_ms, request.time_ms) {
            (Some(idle), _) => Some(ClaimTime::Idle(idle)),
            (None, Some(time)) => Some(ClaimTime::Time(time)),
            (None, None) => None,
        };
        let claim = Claim {
            consumer,
            min_idle_ms: request.min_idle_ms,
            ids: ids(&request.ids)?,
            options: ClaimOptions {
                time,
                retry_count: match request.retry_count {
                    // Redis takes a signed 64-bit count.
                    Some(count) if i64::try_from(count).is_err() => {
                        return Err(CommandError::ClaimRetryCount.into())
                    }
                    count => count,
                },
                force: request.force,
                justid: request.justid,
                last_id,
            },
        };
        let justid = claim.options.justid;
        let engine = self.engine.clone();
        let read = blocking(move || Ok(engine.claim(&name, &group, &claim)?)).await?;
        let response = v1::ClaimResponse {
            entries: deliveries(read.deliveries, justid),
            dead_lettered: read.dead_lettered.iter().map(StreamId::to_string).collect(),
        };
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    /// XAUTOCLAIM.
    pub(super) async fn auto_claim(
        &self,
        request: v1::AutoClaimRequest,
    ) -> Result<v1::AutoClaimResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let consumer = required(request.consumer_name, "consumer")?;
        let start = match request.start.as_str() {
            "" => StreamId::MIN,
            start => IdRange::parse(start.as_bytes(), b"+")?.start,
        };
        // A COUNT above count_max is clamped rather than refused: XAUTOCLAIM may always
        // claim fewer than COUNT, and its cursor carries on where this call stopped.
        let count = match request.count {
            Some(0) => return Err(CommandError::AutoClaimCount.into()),
            Some(count) => usize::try_from(count).map_or(self.limits.count_max, |count| {
                count.min(self.limits.count_max)
            }),
            None => AUTOCLAIM_COUNT_DEFAULT.min(self.limits.count_max),
        };
        let (min_idle, justid) = (request.min_idle_ms, request.justid);
        let engine = self.engine.clone();
        let (outcome, dead_lettered) = blocking(move || {
            Ok(engine.autoclaim(&name, &group, &consumer, min_idle, start, count, justid)?)
        })
        .await?;
        let response = v1::AutoClaimResponse {
            cursor: outcome.cursor.to_string(),
            entries: deliveries(outcome.claimed.deliveries, justid),
            deleted: outcome.deleted.iter().map(StreamId::to_string).collect(),
            dead_lettered: dead_lettered.iter().map(StreamId::to_string).collect(),
        };
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    /// A negative acknowledgement.
    pub(super) async fn nack(
        &self,
        request: v1::NackRequest,
    ) -> Result<v1::NackResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let consumer = required(request.consumer_name, "consumer")?;
        let ids = ids(&request.ids)?;
        let (delay, reject) = (request.delay_ms, request.reject);
        let engine = self.engine.clone();
        let dead =
            blocking(move || Ok(engine.nack(&name, &group, &consumer, &ids, delay, reject)?))
                .await?;
        Ok(v1::NackResponse {
            dead_lettered: dead.iter().map(StreamId::to_string).collect(),
        })
    }

    /// A lease renewal.
    pub(super) async fn renew(
        &self,
        request: v1::RenewRequest,
    ) -> Result<v1::RenewResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let consumer = required(request.consumer_name, "consumer")?;
        let ids = ids(&request.ids)?;
        let engine = self.engine.clone();
        let renewed = blocking(move || Ok(engine.renew(&name, &group, &consumer, &ids)?)).await?;
        Ok(v1::RenewResponse { renewed })
    }
}

/// The rest of a group read: awaited until durable (no thread parked), then its dead letters
/// moved on the blocking pool, if it has any (each move waits for syncs).
pub(super) async fn finish_group_read(
    engine: &Engine,
    step: Durable<GroupReadStep>,
) -> Result<ReadGroupOutcome, RequestError> {
    let step = step.await?;
    if !step.has_moves() {
        return Ok(step.into_outcome());
    }
    let engine = engine.clone();
    blocking(move || Ok(engine.finish_read_group(step)?)).await
}
