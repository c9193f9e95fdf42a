//! XREAD (Read): entries after a given ID in one or more streams, optionally waiting for them.
//!
//! `$` and `+` are resolved once, when the call starts, by the engine, exactly as Redis does:
//! a blocked Read keeps waiting for entries after the ID it resolved, whatever happens
//! meanwhile. A blocking Read subscribes to the streams' changes before it resolves and reads
//! (see `wait`). Only a Read that has to wait takes one of the `blocked_readers_max` permits;
//! the permit is a guard, so a client that cancels or disconnects frees it as tonic drops the
//! call.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;

use crate::command::CommandError;
use crate::id::StreamId;
use crate::model::{ReadLimit, ReadStart};
use crate::proto::v1;
use crate::server::convert::{self, StreamKey};
use crate::server::limits::EntryBudget;
use crate::server::status::RequestError;
use crate::server::streams::{blocking, StreamsService};
use crate::server::wait::{Changes, Woken};

impl StreamsService {
    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id ….
    pub(super) async fn xread(
        &self,
        request: v1::ReadRequest,
    ) -> Result<v1::ReadResponse, RequestError> {
        if request.streams.is_empty() {
            return Err(CommandError::WrongArity("xread").into());
        }
        // XREAD's COUNT 0 means no COUNT (unlike XRANGE's, which means nothing).
        let budget = self
            .limits
            .entries(request.count.filter(|&count| count != 0))?;
        let requested = request
            .streams
            .into_iter()
            .map(|offset| {
                Ok((
                    self.name(offset.key)?,
                    ReadStart::parse(offset.id.as_bytes())?,
                ))
            })
            .collect::<Result<Vec<_>, RequestError>>()?;
        let mut changes = request.block_ms.map(|_| {
            Changes::subscribe(
                &self.engine,
                requested.iter().map(|(name, _)| name.as_slice()),
            )
        });
        let engine = self.engine.clone();
        let cursors = blocking(move || Ok(engine.resolve_starts(requested)?)).await?;
        let cursors = Arc::new(cursors);

        let response = self.read_once(&cursors, budget).await?;
        let (Some(block_ms), Some(changes)) = (request.block_ms, changes.as_mut()) else {
            return Ok(response);
        };
        if !response.streams.is_empty() {
            return Ok(response);
        }
        let _permit = Arc::clone(&self.blocked_readers)
            .try_acquire_owned()
            .map_err(|_| RequestError::BlockedReadersFull {
                max: self.limits.blocked_readers_max,
            })?;
        tracing::debug!(streams = cursors.len(), block_ms, "read blocked");
        let timeout = async {
            match block_ms {
                0 => pending().await,
                // tokio caps a far deadline, so no block_ms can overflow the clock.
                _ => tokio::time::sleep(Duration::from_millis(block_ms)).await,
            }
        };
        tokio::pin!(timeout);
        loop {
            if changes.wait(&self.shutdown, &mut timeout, None).await? == Woken::Stopped {
                return Ok(v1::ReadResponse::default());
            }
            let response = self.read_once(&cursors, budget).await?;
            if !response.streams.is_empty() {
                return Ok(response);
            }
        }
    }

    /// Reads every stream once; streams without new entries are left out.
    async fn read_once(
        &self,
        cursors: &Arc<Vec<(Vec<u8>, StreamId)>>,
        budget: EntryBudget,
    ) -> Result<v1::ReadResponse, RequestError> {
        let engine = self.engine.clone();
        let cursors = Arc::clone(cursors);
        let limit = ReadLimit {
            count: budget.count,
            bytes: self.limits.message_bytes_max,
            partial: false,
        };
        let response = blocking(move || {
            let mut response = v1::ReadResponse::default();
            // The streams share one reply: each takes its exact encoded size from the budget.
            engine.read_after(&cursors, limit, |name, entries| {
                budget.check(entries.len())?;
                let stream = v1::StreamEntries {
                    key: Some(StreamKey::from_name(name.to_vec())),
                    entries: convert::entries_to_proto(entries),
                };
                let stream_bytes = stream.encoded_len();
                response.streams.push(stream);
                Ok::<_, RequestError>(1 + prost::length_delimiter_len(stream_bytes) + stream_bytes)
            })?;
            Ok(response)
        })
        .await?;
        self.limits.check_reply(&response)?;
        Ok(response)
    }
}
