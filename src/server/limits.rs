//! The limits the server puts on one request, and how a read's size follows from them.
//!
//! A reply never exceeds `message_bytes_max`: the engine stops reading at about that many
//! bytes (its own accounting of IDs and fields), and the finished reply is measured exactly
//! before it is sent. A read without COUNT returns at most `count_max` entries and is refused
//! when more match, so a client never mistakes a truncated reply for the whole range.

use prost::Message;

use crate::error::Error;
use crate::model::ReadLimit;
use crate::server::status::RequestError;

/// Room for a reply's framing beyond its entries (message tags, lengths, a stream name's
/// framing), used when checking that any single entry fits in a message.
pub const REPLY_OVERHEAD_BYTES: usize = 1024;

/// Tail messages queued per subscriber before the server stops reading for it. Small, so a
/// subscriber that does not keep up holds at most this many messages (each at most half of
/// `message_bytes_max`) plus the one being sent.
pub const TAIL_QUEUE_MESSAGES: usize = 4;

/// The per-request limits of the gRPC server (see `ServeArgs` for each one's meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest gRPC message in either direction.
    pub message_bytes_max: usize,
    /// Largest COUNT; most entries a read without COUNT returns.
    pub count_max: usize,
    /// Most entries in one Add batch.
    pub batch_entries_max: usize,
    /// Most Read calls blocked at once.
    pub blocked_readers_max: usize,
    /// Most Tail subscriptions at once.
    pub tail_subscribers_max: usize,
    /// Most entries in one Tail message.
    pub tail_batch_max: usize,
    /// Longest stream name (the engine's limit, checked on every key the server sees).
    pub stream_name_bytes_max: usize,
    /// Most streaming consumers (Groups.Consume calls) at once.
    pub consumers_max: usize,
    /// Most entries a streaming consumer may hold unsettled.
    pub consume_window_max: usize,
}

/// How many entries one read may return, and whether more matching is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryBudget {
    /// Entries to ask the engine for.
    pub count: usize,
    /// Whether the caller gave COUNT (then a short reply is simply what was asked for).
    explicit: bool,
    count_max: usize,
}

impl EntryBudget {
    /// The engine's read limit for this budget with `bytes` of reply left.
    pub fn read_limit(&self, bytes: usize) -> ReadLimit {
        ReadLimit {
            count: self.count,
            bytes,
            partial: false,
        }
    }

    /// Refuses a read without COUNT that found more than `count_max` entries (the budget
    /// asked for one more than that, to tell "exactly count_max" from "more").
    pub fn check(&self, returned: usize) -> Result<(), RequestError> {
        if !self.explicit && returned > self.count_max {
            return Err(RequestError::TooManyEntries {
                max: self.count_max,
            });
        }
        Ok(())
    }
}

impl Limits {
    /// The budget for a read with an optional COUNT.
    pub fn entries(&self, count: Option<u64>) -> Result<EntryBudget, RequestError> {
        match count {
            Some(count) => match usize::try_from(count) {
                Ok(count) if count <= self.count_max => Ok(EntryBudget {
                    count,
                    explicit: true,
                    count_max: self.count_max,
                }),
                _ => Err(RequestError::CountTooLarge {
                    count,
                    max: self.count_max,
                }),
            },
            None => Ok(EntryBudget {
                count: self.count_max + 1,
                explicit: false,
                count_max: self.count_max,
            }),
        }
    }

    /// The budget for a Redis client's read: as [`Limits::entries`], but a COUNT beyond
    /// `count_max` is read as no COUNT (the reply is the same unless more than `count_max`
    /// entries match, which is refused), since Redis clients often pass a large COUNT to mean
    /// "all of them".
    pub fn entries_lenient(&self, count: Option<u64>) -> EntryBudget {
        match count.and_then(|count| usize::try_from(count).ok()) {
            Some(count) if count <= self.count_max => EntryBudget {
                count,
                explicit: true,
                count_max: self.count_max,
            },
            _ => EntryBudget {
                count: self.count_max + 1,
                explicit: false,
                count_max: self.count_max,
            },
        }
    }

    /// Refuses a finished reply larger than `message_bytes_max`, measured as encoded.
    pub fn check_reply(&self, reply: &impl Message) -> Result<(), RequestError> {
        if reply.encoded_len() > self.message_bytes_max {
            return Err(Error::ReplyTooLarge {
                max: self.message_bytes_max,
            }
            .into());
        }
        Ok(())
    }

    /// Entries per Tail message for a requested batch (0 = the server's maximum). A larger
    /// batch is lowered rather than refused: it only bounds each message, and every entry is
    /// still delivered.
    pub fn tail_batch(&self, requested: u64) -> usize {
        match usize::try_from(requested) {
            Ok(0) => self.tail_batch_max,
            Ok(batch) => batch.min(self.tail_batch_max),
            Err(_) => self.tail_batch_max,
        }
    }

    /// A streaming consumer's window for a requested one (0 = the server's maximum); a larger
    /// one is lowered rather than refused.
    pub fn consume_window(&self, requested: u64) -> usize {
        match usize::try_from(requested) {
            Ok(0) | Err(_) => self.consume_window_max,
            Ok(window) => window.min(self.consume_window_max),
        }
    }

    /// The engine's read limit for one Tail message. Half the message size by the engine's
    /// accounting keeps the encoded message within `message_bytes_max` (protobuf framing adds
    /// at most a few bytes per field on top of what the engine counts); one entry is always
    /// returned, and any single entry fits (checked at startup).
    pub fn tail_read_limit(&self, batch: usize) -> ReadLimit {
        ReadLimit {
            count: batch,
            bytes: self.message_bytes_max / 2,
            partial: true,
        }
    }
}

#[cfg(test)]
impl Limits {
    /// Small limits for unit tests.
    pub(crate) fn sample() -> Limits {
        Limits {
            message_bytes_max: 1 << 20,
            count_max: 10,
            batch_entries_max: 5,
            blocked_readers_max: 1,
            tail_subscribers_max: 1,
            tail_batch_max: 4,
            stream_name_bytes_max: 64,
            consumers_max: 1,
            consume_window_max: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_budgets() {
        let limits = Limits::sample();
        let explicit = limits.entries(Some(10)).unwrap();
        assert_eq!(explicit.count, 10);
        assert!(explicit.check(10).is_ok());
        assert!(matches!(
            limits.entries(Some(11)),
            Err(RequestError::CountTooLarge { count: 11, max: 10 })
        ));
        assert!(matches!(
            limits.entries(Some(u64::MAX)),
            Err(RequestError::CountTooLarge { .. })
        ));
        let implicit = limits.entries(None).unwrap();
        assert_eq!(implicit.count, 11);
        assert!(implicit.check(10).is_ok());
        assert!(matches!(
            implicit.check(11),
            Err(RequestError::TooManyEntries { max: 10 })
        ));
    }

    #[test]
    fn tail_batches() {
        let limits = Limits::sample();
        assert_eq!(limits.tail_batch(0), 4);
        assert_eq!(limits.tail_batch(2), 2);
        assert_eq!(limits.tail_batch(100), 4);
        assert_eq!(limits.tail_batch(u64::MAX), 4);
    }
}
