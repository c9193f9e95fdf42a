//! The consumer-group commands over the `sluice.v1.Groups` service: each command becomes its
//! RPC's request, and the response is read back into the engine's types
//! ([`crate::proto::groups`]) so the reply is built by the same [`crate::reply`] functions the
//! other front ends use.
//!
//! [`Command::ErrorUnlessNoGroup`] (an argument Redis refuses only once the stream and its
//! group are found) looks each stream's groups up with Info, in order.

use tonic::Code;

use super::{Client, Failure};
use crate::command::{
    Command, CommandError, MissingGroup, XAutoClaim, XClaim, XGroupCreate, XNack, XPending,
    XReadGroup,
};
use crate::id::StreamId;
use crate::model::{ClaimTime, Delivery, GroupInfo, GroupRead, GroupStart, GroupTarget};
use crate::proto::convert::{key, StreamKey};
use crate::proto::groups as wire;
use crate::proto::v1 as proto;
use crate::reply::{self, Reply};

/// A name the request must carry (group, consumer).
fn named<K: StreamKey>(name: &[u8]) -> Option<K> {
    Some(K::from_name(name.to_vec()))
}

fn id_strings(ids: &[StreamId]) -> Vec<String> {
    ids.iter().map(StreamId::to_string).collect()
}

/// XGROUP CREATE's and SETID's ID argument.
fn target_argument(target: GroupTarget) -> String {
    match target {
        GroupTarget::LastGenerated => "$".to_owned(),
        GroupTarget::Id(id) => id.to_string(),
    }
}

/// IDs the server sent, or the protocol error naming the first bad one.
fn ids_from_server(ids: &[String]) -> Result<Vec<StreamId>, Failure> {
    ids.iter()
        .map(|id| wire::id_from_proto(id).map_err(Failure::Protocol))
        .collect()
}

fn deliveries_from_server(deliveries: Vec<proto::Delivery>) -> Result<Vec<Delivery>, Failure> {
    deliveries
        .into_iter()
        .map(|delivery| wire::delivery_from_proto(delivery).map_err(Failure::Protocol))
        .collect()
}

impl Client {
    /// Runs a consumer-group command; `None` when `command` is not one.
    pub(super) async fn run_group(&mut self, command: &Command) -> Option<Result<Reply, Failure>> {
        Some(match command {
            Command::XReadGroup(read) => self.xreadgroup(read).await,
            Command::XAck {
                key: name,
                group,
                ids,
            } => self.xack(name, group, ids).await,
            Command::XPending(pending) => self.xpending(pending).await,
            Command::XClaim(claim) => self.xclaim(claim).await,
            Command::XAutoClaim(auto) => self.xautoclaim(auto).await,
            Command::XNack(nack) => self.xnack(nack).await,
            Command::XRenew {
                key: name,
                group,
                consumer,
                ids,
            } => self.xrenew(name, group, consumer, ids).await,
            Command::XInfoGroups { key: name } => self.xinfo_groups(name).await,
            Command::XInfoConsumers { key: name, group } => self.xinfo_consumers(name, group).await,
            Command::ErrorUnlessNoGroup {
                keys,
                group,
                missing,
                error,
            } => {
                self.error_unless_no_group(keys, group, missing, error)
                    .await
            }
            xgroup => return self.run_xgroup(xgroup).await,
        })
    }

    /// XGROUP's subcommands; `None` for any other command.
    async fn run_xgroup(&mut self, command: &Command) -> Option<Result<Reply, Failure>> {
        Some(match command {
            Command::XGroupCreate(create) => self.xgroup_create(create).await,
            Command::XGroupSetId {
                key: name,
                group,
                target,
                entries_read,
            } => {
                let request = proto::SetGroupIdRequest {
                    key: key(name),
                    group_name: named(group),
                    id: target_argument(*target),
                    entries_read: *entries_read,
                };
                self.groups
                    .set_id(request)
                    .await
                    .map(|_| reply::ok())
                    .map_err(Failure::from)
            }
            Command::XGroupDestroy { key: name, group } => {
                let request = proto::DestroyGroupRequest {
                    key: key(name),
                    group_name: named(group),
                };
                self.groups
                    .destroy(request)
                    .await
                    .map(|response| reply::integer(u64::from(response.into_inner().destroyed)))
                    .map_err(Failure::from)
            }
            Command::XGroupCreateConsumer {
                key: name,
                group,
                consumer,
            } => self.consumer(name, group, consumer, true).await,
            Command::XGroupDelConsumer {
                key: name,
                group,
                consumer,
            } => self.consumer(name, group, consumer, false).await,
            Command::XGroupSetPolicy {
                key: name,
                group,
                policy,
            } => {
                let request = proto::SetPolicyRequest {
                    key: key(name),
                    group_name: named(group),
                    policy: Some(wire::policy_to_proto(policy)),
                };
                self.groups
                    .set_policy(request)
                    .await
                    .map(|_| reply::ok())
                    .map_err(Failure::from)
            }
            Command::XGroupHelp => Ok(reply::xgroup_help()),
            _ => return None,
        })
    }

    async fn xgroup_create(&mut self, create: &XGroupCreate) -> Result<Reply, Failure> {
        let request = proto::CreateGroupRequest {
            key: key(&create.key),
            group_name: named(&create.group),
            id: target_argument(create.target),
            mkstream: create.mkstream,
            entries_read: create.entries_read,
            policy: Some(wire::policy_to_proto(&create.policy)),
        };
        self.groups.create(request).await?;
        Ok(reply::ok())
    }

    /// XGROUP CREATECONSUMER (`create`) or DELCONSUMER.
    async fn consumer(
        &mut self,
        name: &[u8],
        group: &[u8],
        consumer: &[u8],
        create: bool,
    ) -> Result<Reply, Failure> {
        let request = proto::ConsumerRequest {
            key: key(name),
            group_name: named(group),
            consumer_name: named(consumer),
        };
        Ok(if create {
            let response = self.groups.create_consumer(request).await?;
            reply::integer(u64::from(response.into_inner().created))
        } else {
            let response = self.groups.delete_consumer(request).await?;
            reply::integer(response.into_inner().pending)
        })
    }

    async fn xreadgroup(&mut self, read: &XReadGroup) -> Result<Reply, Failure> {
        let request = proto::ReadGroupRequest {
            group_name: named(&read.group),
            consumer_name: named(&read.consumer),
            streams: read
                .streams
                .iter()
                .map(|(name, start)| proto::GroupStreamOffset {
                    key: key(name),
                    id: match start {
                        GroupStart::New => ">".to_owned(),
                        GroupStart::Pending(id) => id.to_string(),
                    },
                })
                .collect(),
            count: read.count,
            block_ms: read.block_ms,
            noack: read.noack,
            claim_min_idle_ms: read.claim_min_idle_ms,
        };
        let response = self.groups.read(request).await?.into_inner();
        let streams = response
            .streams
            .into_iter()
            .map(wire::group_read_from_proto)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Protocol)?;
        Ok(reply::xreadgroup(
            &streams,
            read.claim_min_idle_ms.is_some(),
        ))
    }

    async fn xack(
        &mut self,
        name: &[u8],
        group: &[u8],
        ids: &[StreamId],
    ) -> Result<Reply, Failure> {
        let request = proto::AckRequest {
            key: key(name),
            group_name: named(group),
            ids: id_strings(ids),
        };
        let response = self.groups.ack(request).await?.into_inner();
        Ok(reply::integer(response.acknowledged))
    }

    async fn xpending(&mut self, pending: &XPending) -> Result<Reply, Failure> {
        let range = pending.extended.as_ref().map(|query| proto::PendingRange {
            start: query.start.to_string(),
            end: query.end.to_string(),
            count: query.count as u64,
            consumer_name: query.consumer.clone().map(StreamKey::from_name),
            min_idle_ms: query.min_idle_ms,
        });
        let extended = range.is_some();
        let request = proto::PendingRequest {
            key: key(&pending.key),
            group_name: named(&pending.group),
            range,
        };
        let response = self.groups.pending(request).await?.into_inner();
        if !extended {
            let summary = wire::summary_from_proto(&response).map_err(Failure::Protocol)?;
            return Ok(reply::xpending_summary(&summary));
        }
        let entries = response
            .entries
            .into_iter()
            .map(wire::pending_entry_from_proto)
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Protocol)?;
        Ok(reply::xpending(&entries))
    }

    async fn xclaim(&mut self, claim: &XClaim) -> Result<Reply, Failure> {
        let options = &claim.options;
        let (idle_ms, time_ms) = match options.time {
            Some(ClaimTime::Idle(idle)) => (Some(idle), None),
            Some(ClaimTime::Time(time)) => (None, Some(time)),
            None => (None, None),
        };
        let request = proto::ClaimRequest {
            key: key(&claim.key),
            group_name: named(&claim.group),
            consumer_name: named(&claim.consumer),
            min_idle_ms: claim.min_idle_ms,
            ids: id_strings(&claim.ids),
            idle_ms,
            time_ms,
            retry_count: options.retry_count,
            force: options.force,
            justid: options.justid,
            last_id: options.last_id.map(|id| id.to_string()).unwrap_or_default(),
        };
        let response = self.groups.claim(request).await?.into_inner();
        let read = GroupRead {
            deliveries: deliveries_from_server(response.entries)?,
            dead_lettered: ids_from_server(&response.dead_lettered)?,
        };
        Ok(reply::xclaim(&read, options.justid))
    }

    async fn xautoclaim(&mut self, auto: &XAutoClaim) -> Result<Reply, Failure> {
        let request = proto::AutoClaimRequest {
            key: key(&auto.key),
            group_name: named(&auto.group),
            consumer_name: named(&auto.consumer),
            min_idle_ms: auto.min_idle_ms,
            start: auto.start.to_string(),
            count: Some(auto.count),
            justid: auto.justid,
        };
        let response = self.groups.auto_claim(request).await?.into_inner();
        let cursor = wire::id_from_proto(&response.cursor).map_err(Failure::Protocol)?;
        let deliveries = deliveries_from_server(response.entries)?;
        let deleted = ids_from_server(&response.deleted)?;
        Ok(reply::xautoclaim(
            cursor,
            &deliveries,
            &deleted,
            auto.justid,
        ))
    }

    async fn xnack(&mut self, nack: &XNack) -> Result<Reply, Failure> {
        let request = proto::NackRequest {
            key: key(&nack.key),
            group_name: named(&nack.group),
            consumer_name: named(&nack.consumer),
            ids: id_strings(&nack.ids),
            delay_ms: nack.delay_ms,
            reject: nack.reject,
        };
        let response = self.groups.nack(request).await?.into_inner();
        let moved = ids_from_server(&response.dead_lettered)?;
        Ok(reply::xnack(&nack.ids, nack.reject, &moved))
    }

    async fn xrenew(
        &mut self,
        name: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
    ) -> Result<Reply, Failure> {
        let request = proto::RenewRequest {
            key: key(name),
            group_name: named(group),
            consumer_name: named(consumer),
            ids: id_strings(ids),
        };
        let response = self.groups.renew(request).await?.into_inner();
        Ok(reply::integer(response.renewed))
    }

    /// XINFO GROUPS: the stream's groups, or the server's refusal.
    async fn groups_of(&mut self, name: &[u8]) -> Result<Vec<GroupInfo>, Failure> {
        let request = proto::GroupsInfoRequest { key: key(name) };
        let response = self.groups.info(request).await?.into_inner();
        response
            .groups
            .into_iter()
            .map(|info| wire::group_info_from_proto(info).map_err(Failure::Protocol))
            .collect()
    }

    async fn xinfo_groups(&mut self, name: &[u8]) -> Result<Reply, Failure> {
        Ok(reply::xinfo_groups(&self.groups_of(name).await?))
    }

    async fn xinfo_consumers(&mut self, name: &[u8], group: &[u8]) -> Result<Reply, Failure> {
        let request = proto::ConsumersRequest {
            key: key(name),
            group_name: named(group),
        };
        let response = self.groups.consumers(request).await?.into_inner();
        let consumers: Vec<_> = response
            .consumers
            .into_iter()
            .map(wire::consumer_info_from_proto)
            .collect();
        Ok(reply::xinfo_consumers(&consumers))
    }

    /// [`Command::ErrorUnlessNoGroup`]: `missing`'s reply for the first stream that does not
    /// exist or lacks the group, `error` when every one has it.
    async fn error_unless_no_group(
        &mut self,
        keys: &[Vec<u8>],
        group: &[u8],
        missing: &MissingGroup,
        error: &CommandError,
    ) -> Result<Reply, Failure> {
        for name in keys {
            match self.groups_of(name).await {
                Ok(groups) if groups.iter().any(|found| found.name == group) => {}
                Ok(_) => return Ok(missing.reply(name, group, true)),
                Err(Failure::Status(status)) if status.code() == Code::NotFound => {
                    return Ok(missing.reply(name, group, false))
                }
                Err(failure) => return Err(failure),
            }
        }
        Ok(error.clone().into_reply())
    }
}
