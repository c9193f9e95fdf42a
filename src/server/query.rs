//! The commands that look at streams without waiting: XRANGE / XREVRANGE (Range), XLEN (Len),
//! XINFO STREAM (Info) and KEYS (List). Each reply is bounded by COUNT / `count_max` and by
//! `message_bytes_max` (see `limits`). Len, and Range of the newest entries, run on the
//! calling task (a read of a view from the page cache); older ranges, Info and KEYS (which
//! may read cold data, wait for durability or walk every name) on the blocking pool.

use crate::id::IdRange;
use crate::model::{ReadLimit, INFO_FULL_COUNT_DEFAULT};
use crate::proto::v1;
use crate::proto::wire::EncodedEntries;
use crate::server::convert;
use crate::server::status::RequestError;
use crate::server::streams::{blocking, StreamsService};

fn or_default<'text>(text: &'text str, default: &'text str) -> &'text str {
    if text.is_empty() {
        default
    } else {
        text
    }
}

impl StreamsService {
    /// XRANGE, or XREVRANGE with `reverse`.
    pub(super) async fn xrange(
        &self,
        request: v1::RangeRequest,
    ) -> Result<v1::RangeResponse, RequestError> {
        let name = self.name(request.key)?;
        let range = IdRange::parse(
            or_default(&request.start, "-").as_bytes(),
            or_default(&request.end, "+").as_bytes(),
        )?;
        let budget = self.limits.entries(request.count)?;
        let limit = budget.read_limit(self.limits.message_bytes_max);
        // The newest entries (the active segment's, in the page cache) are read on this task:
        // microseconds, where the hop to a pool thread and back costs a context switch each way.
        // Older ones, perhaps cold on disk, on the blocking pool, so that a disk read never
        // holds a runtime worker.
        // Entries are encoded for the reply as the read finds them (see `proto::wire`).
        let reverse = request.reverse;
        let mut entries = EncodedEntries::default();
        let (exists, entries) =
            match self
                .engine
                .range_if_recent_into(&name, range, reverse, limit, &mut entries)
            {
                Some(exists) => (exists?, entries),
                None => {
                    let engine = self.engine.clone();
                    blocking(move || {
                        let exists =
                            engine.range_into(&name, range, reverse, limit, &mut entries)?;
                        Ok((exists, entries))
                    })
                    .await?
                }
            };
        budget.check(entries.count())?;
        let response = v1::RangeResponse::encoded(entries, exists);
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    /// XLEN: 0 for a missing stream.
    pub(super) async fn xlen(
        &self,
        request: v1::LenRequest,
    ) -> Result<v1::LenResponse, RequestError> {
        let name = self.name(request.key)?;
        // On this task: the length is the newest view's counter.
        let length = self.engine.len(&name)?;
        Ok(v1::LenResponse { length })
    }

    /// XINFO STREAM [FULL [COUNT n]]. FULL's COUNT 0 means every entry, within `count_max`.
    pub(super) async fn xinfo(
        &self,
        request: v1::InfoRequest,
    ) -> Result<v1::InfoResponse, RequestError> {
        let name = self.name(request.key)?;
        if request.count.is_some() && !request.full {
            return Err(RequestError::CountWithoutFull);
        }
        let full = if request.full {
            let count = request.count.unwrap_or(INFO_FULL_COUNT_DEFAULT);
            // COUNT 0 asks for everything: bounded like a range without COUNT.
            let budget = self.limits.entries((count != 0).then_some(count))?;
            let full_count = if count == 0 { 0 } else { budget.count };
            Some((full_count, budget))
        } else {
            None
        };
        let limit = ReadLimit {
            count: self.limits.count_max + 1,
            bytes: self.limits.message_bytes_max,
            partial: false,
        };
        let engine = self.engine.clone();
        let full_count = full.map(|(count, _)| count);
        let info = blocking(move || Ok(engine.info(&name, full_count, limit)?)).await?;
        let entries = info.entries.unwrap_or_default();
        if let Some((_, budget)) = full {
            budget.check(entries.len())?;
        }
        let (first_entry, last_entry) = if request.full {
            (None, None)
        } else {
            (
                info.first_entry.map(convert::entry_to_proto),
                info.last_entry.map(convert::entry_to_proto),
            )
        };
        let response = v1::InfoResponse {
            length: info.counters.length,
            radix_tree_keys: info.segments,
            radix_tree_nodes: info.index_points,
            last_generated_id: info.counters.last_id.to_string(),
            max_deleted_entry_id: info.counters.max_deleted.to_string(),
            entries_added: info.counters.entries_added,
            recorded_first_entry_id: info.recorded_first_id.to_string(),
            groups: info.groups,
            first_entry,
            last_entry,
            entries: convert::entries_to_proto(entries),
            full_groups: info
                .full_groups
                .into_iter()
                .map(crate::proto::groups::full_group_to_proto)
                .collect(),
            retention: info
                .retention
                .as_ref()
                .map(crate::proto::retention::policy_to_proto),
        };
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    /// KEYS pattern: UTF-8 names as text, the others as bytes, each list sorted.
    pub(super) async fn keys(
        &self,
        request: v1::ListRequest,
    ) -> Result<v1::ListResponse, RequestError> {
        let engine = self.engine.clone();
        let pattern = request.pattern;
        let names = blocking(move || {
            let pattern = (!pattern.is_empty()).then_some(pattern.as_bytes());
            Ok(engine.list(pattern))
        })
        .await?;
        let mut response = v1::ListResponse::default();
        for name in names {
            match convert::text_or_bytes(name) {
                Ok(text) => response.streams.push(text),
                Err(bytes) => response.streams_bytes.push(bytes),
            }
        }
        self.limits
            .check_reply(&response)
            .map_err(|_| RequestError::ListTooLarge {
                max: self.limits.message_bytes_max,
            })?;
        Ok(response)
    }
}
