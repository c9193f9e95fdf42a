//! The commands that change streams: XADD (Add), XDEL (Delete), XTRIM (Trim), XSETID (SetId)
//! and DEL (Drop). Each is one engine call, atomic and, under the default fsync policy,
//! durable before the reply is sent. XADD, the hot path, appends on the calling task and
//! awaits durability; the others, rare and possibly long (they may sync several files), run
//! on the blocking pool.

use crate::command::CommandError;
use crate::id::StreamId;
use crate::proto::v1;
use crate::server::convert::{self, TrimCommand};
use crate::server::status::RequestError;
use crate::server::streams::{blocking, StreamsService};

impl StreamsService {
    /// XADD: one entry (`id`, `fields`) or an atomic batch (`entries`), then the trim.
    pub(super) async fn xadd(
        &self,
        request: v1::AddRequest,
    ) -> Result<v1::AddResponse, RequestError> {
        let name = self.name(request.key)?;
        let single = !request.id.is_empty() || !request.fields.is_empty();
        if single && !request.entries.is_empty() {
            return Err(RequestError::SingleAndBatch);
        }
        if request.entries.len() > self.limits.batch_entries_max {
            return Err(RequestError::BatchTooLong {
                count: request.entries.len(),
                max: self.limits.batch_entries_max,
            });
        }
        let trim = convert::trim_spec(request.trim, TrimCommand::Add)?;
        let entries = if request.entries.is_empty() {
            vec![convert::new_entry(&request.id, request.fields)?]
        } else {
            request
                .entries
                .into_iter()
                .map(|entry| convert::new_entry(&entry.id, entry.fields))
                .collect::<Result<Vec<_>, _>>()?
        };
        // The append itself is short (under `always`, a copy that its sync round writes), done
        // here; the wait for the group-commit sync is an await, not a parked thread (the sync
        // pump of a one-thread server, or a commit thread, leads the sync). The entries, copied
        // into the log, are freed before that wait rather than held through it.
        let commit = {
            let _gate = self.gate.shared().await;
            self.engine
                .add_deferred(&name, &entries, request.nomkstream, trim.as_ref())?
        };
        drop(entries);
        // NOMKSTREAM on a missing stream: Redis replies nil, this API an empty ID.
        Ok(v1::AddResponse::added(commit.await?.unwrap_or_default()))
    }

    /// XDEL: every ID is parsed before anything is deleted, as Redis does.
    pub(super) async fn xdel(
        &self,
        request: v1::DeleteRequest,
    ) -> Result<v1::DeleteResponse, RequestError> {
        let name = self.name(request.key)?;
        if request.ids.is_empty() {
            return Err(CommandError::WrongArity("xdel").into());
        }
        let ids = request
            .ids
            .iter()
            .map(|id| StreamId::parse_strict(id.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let engine = self.engine.clone();
        let deleted = blocking(move || Ok(engine.delete(&name, &ids)?)).await?;
        Ok(v1::DeleteResponse { deleted })
    }

    /// XTRIM.
    pub(super) async fn xtrim(
        &self,
        request: v1::TrimRequest,
    ) -> Result<v1::TrimResponse, RequestError> {
        let name = self.name(request.key)?;
        let spec = convert::trim_spec(request.trim, TrimCommand::Trim)?
            .ok_or(CommandError::TrimWithoutStrategy)?;
        let engine = self.engine.clone();
        let removed = blocking(move || Ok(engine.trim(&name, &spec)?)).await?;
        Ok(v1::TrimResponse { removed })
    }

    /// XSETID [ENTRIESADDED n] [MAXDELETEDID id].
    pub(super) async fn xsetid(
        &self,
        request: v1::SetIdRequest,
    ) -> Result<v1::SetIdResponse, RequestError> {
        let name = self.name(request.key)?;
        let last_id = StreamId::parse_strict(request.last_id.as_bytes())?;
        let max_deleted = if request.max_deleted_id.is_empty() {
            None
        } else {
            Some(StreamId::parse_strict(request.max_deleted_id.as_bytes())?)
        };
        let entries_added = request.entries_added;
        let engine = self.engine.clone();
        blocking(move || Ok(engine.set_id(&name, last_id, entries_added, max_deleted)?)).await?;
        Ok(v1::SetIdResponse {})
    }

    /// DEL: how many of the named streams existed (a name given twice counts once).
    pub(super) async fn del(
        &self,
        request: v1::DropRequest,
    ) -> Result<v1::DropResponse, RequestError> {
        let names: Vec<Vec<u8>> = request
            .streams
            .into_iter()
            .map(String::into_bytes)
            .chain(request.streams_bytes)
            .collect();
        if names.is_empty() {
            return Err(CommandError::WrongArity("del").into());
        }
        let engine = self.engine.clone();
        let dropped = blocking(move || {
            let mut dropped = 0;
            for name in &names {
                if engine.drop_stream(name)? {
                    dropped += 1;
                }
            }
            Ok(dropped)
        })
        .await?;
        Ok(v1::DropResponse { dropped })
    }
}
