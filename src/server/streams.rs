//! The `sluice.v1.Streams` service: shared state and the dispatch of each RPC to its handler.
//!
//! Handlers translate and nothing more: parse the request (convert), call the engine, render
//! the reply; every failure becomes a status in `status`. They are named after the Redis
//! command they implement and live by kind: `write` (XADD, XDEL, XTRIM, XSETID, DEL), `query`
//! (XRANGE, XLEN, XINFO, KEYS), `read` (XREAD), `tail`, and `retention` (Sluice's
//! SetRetention, GetRetention).
//!
//! The engine is synchronous and may block on disk (fsync, group commit), so an engine call
//! that can wait for a sync runs on tokio's blocking pool through [`blocking`], never on a
//! runtime thread (a one-thread server's sync pump does block its thread for a sync, once
//! per batch of tasks, by design: see [`crate::engine::SyncPump`]). The hot paths are the
//! exceptions, each because it waits for no sync and the
//! hop to the pool and back costs more than the work: Add appends on its task and awaits
//! durability (the [`crate::engine::Durable`] future); Len, a caught-up Tail and a Range of the
//! active segment's entries read a view on their task (the newest entries, in the page cache);
//! a Range reaching into sealed segments, perhaps cold on disk, goes to the pool.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::engine::Engine;
use crate::proto::v1;
use crate::proto::v1::streams_server::Streams;
use crate::server::access::{authorize, principal};
use crate::server::convert::{self, StreamKey};
use crate::server::gate::Gate;
use crate::server::limits::Limits;
use crate::server::shutdown::Shutdown;
use crate::server::status::{status, RequestError};
use crate::server::users::Permission;

/// The Streams service over one engine.
pub struct StreamsService {
    /// MULTI/EXEC's isolation (see `gate`).
    pub(super) gate: Gate,
    pub(super) engine: Engine,
    pub(super) limits: Limits,
    /// Permits for Read calls that wait for data (`blocked_readers_max`).
    pub(super) blocked_readers: Arc<Semaphore>,
    /// Permits for open Tail streams (`tail_subscribers_max`).
    pub(super) tail_subscribers: Arc<Semaphore>,
    pub(super) shutdown: Shutdown,
}

impl StreamsService {
    /// The service over `engine`, enforcing `limits`, releasing waiters on `shutdown`;
    /// `blocked_readers` holds the permits of calls that wait, shared with the Groups service.
    pub fn new(
        engine: Engine,
        limits: Limits,
        blocked_readers: Arc<Semaphore>,
        gate: Gate,
        shutdown: Shutdown,
    ) -> StreamsService {
        StreamsService {
            gate,
            engine,
            blocked_readers,
            tail_subscribers: Arc::new(Semaphore::new(limits.tail_subscribers_max)),
            limits,
            shutdown,
        }
    }

    /// The stream a request names, checked against the name limit.
    pub(super) fn name(&self, key: Option<impl StreamKey>) -> Result<Vec<u8>, RequestError> {
        convert::stream_name(key, self.limits.stream_name_bytes_max)
    }
}

/// Runs synchronous engine work on the blocking pool. If the caller goes away meanwhile the
/// work still completes (an acknowledged-or-not write is never cut in half); only its result
/// is dropped.
pub(super) async fn blocking<T, F>(work: F) -> Result<T, RequestError>
where
    F: FnOnce() -> Result<T, RequestError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| RequestError::Task(error.to_string()))?
}

fn reply<T>(result: Result<T, RequestError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(status)
}

#[tonic::async_trait]
impl Streams for StreamsService {
    async fn add(
        &self,
        request: Request<v1::AddRequest>,
    ) -> Result<Response<v1::AddResponse>, Status> {
        authorize(&request)?;
        reply(self.xadd(request.into_inner()).await)
    }

    async fn range(
        &self,
        request: Request<v1::RangeRequest>,
    ) -> Result<Response<v1::RangeResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xrange(request.into_inner()).await)
    }

    async fn read(
        &self,
        request: Request<v1::ReadRequest>,
    ) -> Result<Response<v1::ReadResponse>, Status> {
        authorize(&request)?;
        let _gate = match request.get_ref().block_ms {
            None => Some(self.gate.shared().await),
            Some(_) => None,
        };
        reply(self.xread(request.into_inner()).await)
    }

    type TailStream = ReceiverStream<Result<v1::TailResponse, Status>>;

    async fn tail(
        &self,
        request: Request<v1::TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        authorize(&request)?;
        reply(self.tail_stream(request.into_inner()).await)
    }

    async fn len(
        &self,
        request: Request<v1::LenRequest>,
    ) -> Result<Response<v1::LenResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xlen(request.into_inner()).await)
    }

    async fn delete(
        &self,
        request: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::DeleteResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xdel(request.into_inner()).await)
    }

    async fn trim(
        &self,
        request: Request<v1::TrimRequest>,
    ) -> Result<Response<v1::TrimResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xtrim(request.into_inner()).await)
    }

    async fn set_id(
        &self,
        request: Request<v1::SetIdRequest>,
    ) -> Result<Response<v1::SetIdResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xsetid(request.into_inner()).await)
    }

    async fn info(
        &self,
        request: Request<v1::InfoRequest>,
    ) -> Result<Response<v1::InfoResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.xinfo(request.into_inner()).await)
    }

    async fn list(
        &self,
        request: Request<v1::ListRequest>,
    ) -> Result<Response<v1::ListResponse>, Status> {
        let principal = principal(&request)?;
        let _gate = self.gate.shared().await;
        let mut listed = self.keys(request.into_inner()).await;
        if let Ok(list) = &mut listed {
            // Only the names the caller may read.
            list.streams
                .retain(|name| principal.may(Permission::Read, name.as_bytes()));
            list.streams_bytes
                .retain(|name| principal.may(Permission::Read, name));
        }
        reply(listed)
    }

    async fn drop(
        &self,
        request: Request<v1::DropRequest>,
    ) -> Result<Response<v1::DropResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.del(request.into_inner()).await)
    }

    async fn set_retention(
        &self,
        request: Request<v1::SetRetentionRequest>,
    ) -> Result<Response<v1::SetRetentionResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(StreamsService::set_retention(self, request.into_inner()).await)
    }

    async fn get_retention(
        &self,
        request: Request<v1::GetRetentionRequest>,
    ) -> Result<Response<v1::GetRetentionResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(StreamsService::get_retention(self, request.into_inner()).await)
    }
}
