//! XREAD (Read): entries after a given ID in one or more streams, optionally waiting for them.
//!
//! `$` and `+` are resolved once, when the call starts, exactly as Redis does: a blocked Read
//! keeps waiting for entries after the ID it resolved, whatever happens meanwhile. To never
//! miss a wake-up, a blocking Read subscribes to every stream's change notifications *before*
//! it resolves IDs and reads; anything committed after the subscription then wakes it, and it
//! reads again. Only a Read that has to wait takes one of the `blocked_readers_max` permits;
//! the permit is a guard, so a client that cancels or disconnects frees it as tonic drops the
//! call.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::error::Error;
use crate::id::{IdRange, StreamId};
use crate::proto::v1;
use crate::server::convert;
use crate::server::limits::EntryBudget;
use crate::server::status::RequestError;
use crate::server::streams::{blocking, StreamsService};
use crate::storage::read::ReadLimit;

/// Where a Read starts in one stream, as requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// Entries with greater IDs.
    After(StreamId),
    /// `$`: entries added from now on.
    LastGenerated,
    /// `+`: the last entry, then entries added from now on (Redis 7.4+).
    LastEntry,
}

impl Position {
    fn parse(id: &str) -> Result<Position, RequestError> {
        Ok(match id {
            "$" => Position::LastGenerated,
            "+" => Position::LastEntry,
            id => Position::After(StreamId::parse_strict(id.as_bytes())?),
        })
    }
}

/// One stream of a Read, its position resolved.
struct Target {
    name: Vec<u8>,
    after: StreamId,
}

impl StreamsService {
    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id ….
    pub(super) async fn xread(
        &self,
        request: v1::ReadRequest,
    ) -> Result<v1::ReadResponse, RequestError> {
        if request.streams.is_empty() {
            return Err(RequestError::WrongArity("xread"));
        }
        // XREAD's COUNT 0 means no COUNT (unlike XRANGE's, which means nothing).
        let budget = self
            .limits
            .entries(request.count.filter(|&count| count != 0))?;
        let requested = request
            .streams
            .into_iter()
            .map(|offset| Ok((self.name(offset.key)?, Position::parse(&offset.id)?)))
            .collect::<Result<Vec<_>, RequestError>>()?;
        let mut watches: Vec<watch::Receiver<u64>> = match request.block_ms {
            Some(_) => requested
                .iter()
                .map(|(name, _)| self.engine.watch(name))
                .collect(),
            None => Vec::new(),
        };
        let engine = self.engine.clone();
        let targets = Arc::new(blocking(move || resolve(&engine, requested)).await?);

        let response = self.read_once(&targets, budget).await?;
        let Some(block_ms) = request.block_ms else {
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
        tracing::debug!(streams = targets.len(), block_ms, "read blocked");
        let timeout = async {
            match block_ms {
                0 => pending().await,
                // tokio caps a far deadline, so no block_ms can overflow the clock.
                _ => tokio::time::sleep(Duration::from_millis(block_ms)).await,
            }
        };
        tokio::pin!(timeout);
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.fired() => return Err(RequestError::ShuttingDown),
                () = &mut timeout => return Ok(v1::ReadResponse::default()),
                () = any_changed(&mut watches) => {}
            }
            let response = self.read_once(&targets, budget).await?;
            if !response.streams.is_empty() {
                return Ok(response);
            }
        }
    }

    /// Reads every target once; streams without new entries are left out.
    async fn read_once(
        &self,
        targets: &Arc<Vec<Target>>,
        budget: EntryBudget,
    ) -> Result<v1::ReadResponse, RequestError> {
        let engine = self.engine.clone();
        let targets = Arc::clone(targets);
        let limits = self.limits;
        blocking(move || {
            let mut response = v1::ReadResponse::default();
            let mut reply_bytes = 0usize;
            for target in targets.iter() {
                let Some(start) = target.after.next() else {
                    continue;
                };
                let range = IdRange {
                    start,
                    end: StreamId::MAX,
                };
                // The streams share one reply, so each reads within what the others left.
                let bytes_left = limits.message_bytes_max.saturating_sub(reply_bytes);
                let entries =
                    match engine.range(&target.name, range, false, budget.read_limit(bytes_left)) {
                        Ok(Some(entries)) if !entries.is_empty() => entries,
                        Ok(_) => continue,
                        Err(Error::ReplyTooLarge { .. }) => {
                            return Err(Error::ReplyTooLarge {
                                max: limits.message_bytes_max,
                            }
                            .into())
                        }
                        Err(error) => return Err(error.into()),
                    };
                budget.check(entries.len())?;
                let stream = v1::StreamEntries {
                    key: Some(convert::stream_entries_key(target.name.clone())),
                    entries: convert::entries_to_proto(entries),
                };
                let stream_bytes = stream.encoded_len();
                reply_bytes += 1 + prost::length_delimiter_len(stream_bytes) + stream_bytes;
                response.streams.push(stream);
            }
            limits.check_reply(&response)?;
            Ok(response)
        })
        .await
    }
}

/// Resolves `$` and `+` against the streams as they are now.
fn resolve(
    engine: &Engine,
    requested: Vec<(Vec<u8>, Position)>,
) -> Result<Vec<Target>, RequestError> {
    requested
        .into_iter()
        .map(|(name, position)| {
            let last_generated =
                |name: &[u8]| Ok::<_, Error>(engine.last_id(name)?.unwrap_or(StreamId::MIN));
            let after = match position {
                Position::After(id) => id,
                Position::LastGenerated => last_generated(&name)?,
                // Redis 7.4 with redis#13632: just below the last *entry* (not the
                // last-generated ID, whose entry may be deleted), so that entry is read; an
                // empty stream behaves as `$`, a missing one as 0-0.
                Position::LastEntry => {
                    match engine.range(&name, IdRange::ALL, true, ReadLimit::count(1))? {
                        Some(entries) => match entries.first() {
                            Some(last) => last.id.prev().unwrap_or(StreamId::MIN),
                            None => last_generated(&name)?,
                        },
                        None => StreamId::MIN,
                    }
                }
            };
            Ok(Target { name, after })
        })
        .collect()
}

/// Resolves when any watched stream changes. A watch whose sender is gone can never change
/// again, so it stops counting rather than waking the reader in a loop.
async fn any_changed(watches: &mut [watch::Receiver<u64>]) {
    if watches.is_empty() {
        return pending().await;
    }
    let changes = watches.iter_mut().map(|watch| {
        Box::pin(async move {
            if watch.changed().await.is_err() {
                pending::<()>().await;
            }
        })
    });
    futures_util::future::select_all(changes).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(Position::parse("$").ok(), Some(Position::LastGenerated));
        assert_eq!(Position::parse("+").ok(), Some(Position::LastEntry));
        assert_eq!(
            Position::parse("5").ok(),
            Some(Position::After(StreamId::new(5, 0)))
        );
        assert!(Position::parse("-").is_err());
        assert!(Position::parse("").is_err());
        assert!(Position::parse(">").is_err());
    }
}
