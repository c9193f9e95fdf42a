//! The `sluice.v1.Groups` service: shared state, the dispatch of each RPC to its handler, and
//! the handlers of the commands that neither read entries nor wait — XGROUP's subcommands,
//! XACK, XPENDING, XINFO GROUPS / CONSUMERS. Reads and claims are in `group_read`, the
//! streaming consumer in `consume`.
//!
//! Handlers translate and nothing more, as the Streams service's do: an engine call that may
//! wait for a sync runs on the blocking pool. XACK and the first step of XREADGROUP, like
//! Add, change memory and append to the page cache only, so they run in place, and their wait
//! for durability is an await.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::engine::Engine;
use crate::id::{IdRange, StreamId};
use crate::model::{GroupTarget, PendingQuery};
use crate::proto::convert::StreamKey;
use crate::proto::groups as wire;
use crate::proto::v1;
use crate::proto::v1::groups_server::Groups;
use crate::server::access::{authorize, principal};
use crate::server::convert;
use crate::server::gate::Gate;
use crate::server::limits::Limits;
use crate::server::shutdown::Shutdown;
use crate::server::status::{status, RequestError};
use crate::server::streams::blocking;

/// The Groups service over one engine.
pub struct GroupsService {
    /// MULTI/EXEC's isolation (see `gate`).
    pub(super) gate: Gate,
    pub(super) engine: Engine,
    pub(super) limits: Limits,
    /// Permits for calls that wait for data (`blocked_readers_max`), shared with Streams.
    pub(super) blocked_readers: Arc<Semaphore>,
    /// Permits for streaming consumers (`consumers_max`).
    pub(super) consumers: Arc<Semaphore>,
    pub(super) shutdown: Shutdown,
}

impl GroupsService {
    /// The service over `engine`, sharing `blocked_readers` with the Streams service.
    pub fn new(
        engine: Engine,
        limits: Limits,
        blocked_readers: Arc<Semaphore>,
        gate: Gate,
        shutdown: Shutdown,
    ) -> GroupsService {
        GroupsService {
            gate,
            engine,
            consumers: Arc::new(Semaphore::new(limits.consumers_max)),
            limits,
            blocked_readers,
            shutdown,
        }
    }

    /// The stream a request names, checked against the name limit.
    pub(super) fn name(&self, key: Option<impl StreamKey>) -> Result<Vec<u8>, RequestError> {
        convert::stream_name(key, self.limits.stream_name_bytes_max)
    }
}

/// A group or consumer name a request must carry.
pub(super) fn required(
    name: Option<impl StreamKey>,
    what: &'static str,
) -> Result<Vec<u8>, RequestError> {
    Ok(name.ok_or(RequestError::MissingName(what))?.into_name())
}

/// IDs as a request carries them (strict form), all parsed before anything is done.
pub(super) fn ids(ids: &[String]) -> Result<Vec<StreamId>, RequestError> {
    Ok(ids
        .iter()
        .map(|id| StreamId::parse_strict(id.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?)
}

/// XGROUP CREATE's / SETID's ID: `$` (also when empty) or an ID, strict or (SETID) loose.
fn target(id: &str, loose: bool) -> Result<GroupTarget, RequestError> {
    Ok(match id {
        "" | "$" => GroupTarget::LastGenerated,
        id if loose => GroupTarget::Id(StreamId::parse_loose(id.as_bytes())?),
        id => GroupTarget::Id(StreamId::parse_strict(id.as_bytes())?),
    })
}

fn reply<T>(result: Result<T, RequestError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(status)
}

impl GroupsService {
    async fn create(
        &self,
        request: v1::CreateGroupRequest,
    ) -> Result<v1::CreateGroupResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let target = target(&request.id, false)?;
        let policy = wire::policy_from_proto(request.policy);
        let (mkstream, entries_read) = (request.mkstream, request.entries_read);
        let engine = self.engine.clone();
        blocking(move || {
            Ok(engine.create_group(&name, &group, target, mkstream, entries_read, policy)?)
        })
        .await?;
        Ok(v1::CreateGroupResponse {})
    }

    async fn set_id(
        &self,
        request: v1::SetGroupIdRequest,
    ) -> Result<v1::SetGroupIdResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let target = target(&request.id, true)?;
        let entries_read = request.entries_read;
        let engine = self.engine.clone();
        blocking(move || Ok(engine.set_group_id(&name, &group, target, entries_read)?)).await?;
        Ok(v1::SetGroupIdResponse {})
    }

    async fn destroy(
        &self,
        request: v1::DestroyGroupRequest,
    ) -> Result<v1::DestroyGroupResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let engine = self.engine.clone();
        let destroyed = blocking(move || Ok(engine.destroy_group(&name, &group)?)).await?;
        Ok(v1::DestroyGroupResponse { destroyed })
    }

    async fn consumer(
        &self,
        request: v1::ConsumerRequest,
        create: bool,
    ) -> Result<(bool, u64), RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let consumer = required(request.consumer_name, "consumer")?;
        let engine = self.engine.clone();
        blocking(move || {
            Ok(if create {
                (engine.create_consumer(&name, &group, &consumer)?, 0)
            } else {
                (false, engine.delete_consumer(&name, &group, &consumer)?)
            })
        })
        .await
    }

    async fn set_policy(
        &self,
        request: v1::SetPolicyRequest,
    ) -> Result<v1::SetPolicyResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let policy = wire::policy_from_proto(request.policy);
        let engine = self.engine.clone();
        blocking(move || Ok(engine.set_group_policy(&name, &group, policy)?)).await?;
        Ok(v1::SetPolicyResponse {})
    }

    async fn ack(&self, request: v1::AckRequest) -> Result<v1::AckResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let ids = ids(&request.ids)?;
        let acknowledged = self.engine.ack_deferred(&name, &group, &ids)?.await?;
        Ok(v1::AckResponse { acknowledged })
    }

    async fn pending(
        &self,
        request: v1::PendingRequest,
    ) -> Result<v1::PendingResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let engine = self.engine.clone();
        let Some(range) = request.range else {
            let summary = blocking(move || Ok(engine.pending_summary(&name, &group)?)).await?;
            return Ok(wire::summary_to_proto(summary));
        };
        let bounds = IdRange::parse(
            or_default(&range.start, "-").as_bytes(),
            or_default(&range.end, "+").as_bytes(),
        )?;
        let count = self.limits.entries(Some(range.count))?.count;
        let query = PendingQuery {
            start: bounds.start,
            end: bounds.end,
            count,
            consumer: range.consumer_name.map(StreamKey::into_name),
            min_idle_ms: range.min_idle_ms,
        };
        let entries = blocking(move || Ok(engine.pending(&name, &group, &query)?)).await?;
        let response = v1::PendingResponse {
            entries: entries
                .into_iter()
                .map(wire::pending_entry_to_proto)
                .collect(),
            ..v1::PendingResponse::default()
        };
        self.limits.check_reply(&response)?;
        Ok(response)
    }

    async fn info(
        &self,
        request: v1::GroupsInfoRequest,
    ) -> Result<v1::GroupsInfoResponse, RequestError> {
        let name = self.name(request.key)?;
        let engine = self.engine.clone();
        let groups = blocking(move || Ok(engine.groups_info(&name)?)).await?;
        Ok(v1::GroupsInfoResponse {
            groups: groups.into_iter().map(wire::group_info_to_proto).collect(),
        })
    }

    async fn consumers_info(
        &self,
        request: v1::ConsumersRequest,
    ) -> Result<v1::ConsumersResponse, RequestError> {
        let name = self.name(request.key)?;
        let group = required(request.group_name, "group")?;
        let engine = self.engine.clone();
        let consumers = blocking(move || Ok(engine.consumers_info(&name, &group)?)).await?;
        Ok(v1::ConsumersResponse {
            consumers: consumers
                .into_iter()
                .map(wire::consumer_info_to_proto)
                .collect(),
        })
    }
}

fn or_default<'text>(text: &'text str, default: &'text str) -> &'text str {
    if text.is_empty() {
        default
    } else {
        text
    }
}

#[tonic::async_trait]
impl Groups for GroupsService {
    async fn create(
        &self,
        request: Request<v1::CreateGroupRequest>,
    ) -> Result<Response<v1::CreateGroupResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::create(self, request.into_inner()).await)
    }

    async fn set_id(
        &self,
        request: Request<v1::SetGroupIdRequest>,
    ) -> Result<Response<v1::SetGroupIdResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::set_id(self, request.into_inner()).await)
    }

    async fn destroy(
        &self,
        request: Request<v1::DestroyGroupRequest>,
    ) -> Result<Response<v1::DestroyGroupResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::destroy(self, request.into_inner()).await)
    }

    async fn create_consumer(
        &self,
        request: Request<v1::ConsumerRequest>,
    ) -> Result<Response<v1::CreateConsumerResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        let outcome = self.consumer(request.into_inner(), true).await;
        reply(outcome.map(|(created, _)| v1::CreateConsumerResponse { created }))
    }

    async fn delete_consumer(
        &self,
        request: Request<v1::ConsumerRequest>,
    ) -> Result<Response<v1::DeleteConsumerResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        let outcome = self.consumer(request.into_inner(), false).await;
        reply(outcome.map(|(_, pending)| v1::DeleteConsumerResponse { pending }))
    }

    async fn set_policy(
        &self,
        request: Request<v1::SetPolicyRequest>,
    ) -> Result<Response<v1::SetPolicyResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::set_policy(self, request.into_inner()).await)
    }

    async fn read(
        &self,
        request: Request<v1::ReadGroupRequest>,
    ) -> Result<Response<v1::ReadGroupResponse>, Status> {
        authorize(&request)?;
        let _gate = match request.get_ref().block_ms {
            None => Some(self.gate.shared().await),
            Some(_) => None,
        };
        reply(self.read_group(request.into_inner()).await)
    }

    async fn ack(
        &self,
        request: Request<v1::AckRequest>,
    ) -> Result<Response<v1::AckResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::ack(self, request.into_inner()).await)
    }

    async fn nack(
        &self,
        request: Request<v1::NackRequest>,
    ) -> Result<Response<v1::NackResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::nack(self, request.into_inner()).await)
    }

    async fn renew(
        &self,
        request: Request<v1::RenewRequest>,
    ) -> Result<Response<v1::RenewResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::renew(self, request.into_inner()).await)
    }

    async fn pending(
        &self,
        request: Request<v1::PendingRequest>,
    ) -> Result<Response<v1::PendingResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::pending(self, request.into_inner()).await)
    }

    async fn claim(
        &self,
        request: Request<v1::ClaimRequest>,
    ) -> Result<Response<v1::ClaimResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::claim(self, request.into_inner()).await)
    }

    async fn auto_claim(
        &self,
        request: Request<v1::AutoClaimRequest>,
    ) -> Result<Response<v1::AutoClaimResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::auto_claim(self, request.into_inner()).await)
    }

    async fn info(
        &self,
        request: Request<v1::GroupsInfoRequest>,
    ) -> Result<Response<v1::GroupsInfoResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(GroupsService::info(self, request.into_inner()).await)
    }

    async fn consumers(
        &self,
        request: Request<v1::ConsumersRequest>,
    ) -> Result<Response<v1::ConsumersResponse>, Status> {
        authorize(&request)?;
        let _gate = self.gate.shared().await;
        reply(self.consumers_info(request.into_inner()).await)
    }

    type ConsumeStream = ReceiverStream<Result<v1::ConsumeResponse, Status>>;

    async fn consume(
        &self,
        request: Request<Streaming<v1::ConsumeRequest>>,
    ) -> Result<Response<Self::ConsumeStream>, Status> {
        let principal = principal(&request)?;
        reply(self.start_consumer(principal, request.into_inner()).await)
    }
}
