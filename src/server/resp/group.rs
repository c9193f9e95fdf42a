//! Running the consumer-group commands (XACK and XREADGROUP aside: XACK's reply waits in the
//! connection's queue like XADD's, XREADGROUP may block, see `block`). All of them may sync
//! the group journal, so they run on the blocking pool.

use crate::command::{Command, CommandError, MissingGroup};
use crate::engine::Engine;
use crate::group::Claim;
use crate::reply::{self, Reply};
use crate::server::resp::connection::Connection;
use crate::server::status::RequestError;
use crate::server::streams::blocking;

/// XAUTOCLAIM's COUNT bound: a larger COUNT claims at most `count_max` (XAUTOCLAIM may
/// always claim fewer; its cursor goes on where it stopped).
fn autoclaim_count(count: u64, count_max: usize) -> usize {
    usize::try_from(count).map_or(count_max, |count| count.min(count_max))
}

impl Connection {
    /// The group commands that reply at once.
    pub(super) async fn answer_group(&mut self, command: Command) -> Result<Reply, RequestError> {
        let engine = self.shared.engine.clone();
        let count_max = self.shared.limits.count_max;
        blocking(move || answer_group(&engine, command, count_max)).await
    }
}

/// Answers a group command that replies at once (not XREADGROUP) from `engine`,
/// synchronously; XAUTOCLAIM claims at most `count_max` entries. The RESP front end runs it
/// on the blocking pool; the tests' engine executor calls it directly.
pub fn answer_group(
    engine: &Engine,
    command: Command,
    count_max: usize,
) -> Result<Reply, RequestError> {
    Ok(match command {
        Command::XPending(pending) => match &pending.extended {
            None => reply::xpending_summary(&engine.pending_summary(&pending.key, &pending.group)?),
            Some(query) => reply::xpending(&engine.pending(&pending.key, &pending.group, query)?),
        },
        Command::XClaim(claim) => {
            let justid = claim.options.justid;
            let request = Claim {
                consumer: claim.consumer,
                min_idle_ms: claim.min_idle_ms,
                ids: claim.ids,
                options: claim.options,
            };
            let read = engine.claim(&claim.key, &claim.group, &request)?;
            reply::xclaim(&read, justid)
        }
        Command::XAutoClaim(auto) => {
            let (outcome, _moved) = engine.autoclaim(
                &auto.key,
                &auto.group,
                &auto.consumer,
                auto.min_idle_ms,
                auto.start,
                autoclaim_count(auto.count, count_max),
                auto.justid,
            )?;
            reply::xautoclaim(
                outcome.cursor,
                &outcome.claimed.deliveries,
                &outcome.deleted,
                auto.justid,
            )
        }
        Command::XNack(nack) => {
            let moved = engine.nack(
                &nack.key,
                &nack.group,
                &nack.consumer,
                &nack.ids,
                nack.delay_ms,
                nack.reject,
            )?;
            reply::xnack(&nack.ids, nack.reject, &moved)
        }
        Command::XRenew {
            key,
            group,
            consumer,
            ids,
        } => reply::integer(engine.renew(&key, &group, &consumer, &ids)?),
        Command::XAck { key, group, ids } => reply::integer(engine.ack(&key, &group, &ids)?),
        Command::XInfoGroups { key } => reply::xinfo_groups(&engine.groups_info(&key)?),
        Command::XInfoConsumers { key, group } => {
            reply::xinfo_consumers(&engine.consumers_info(&key, &group)?)
        }
        Command::ErrorUnlessNoGroup {
            keys,
            group,
            missing,
            error,
        } => error_unless_no_group(engine, &keys, &group, &missing, error)?,
        xgroup => answer_xgroup(engine, xgroup)?,
    })
}

/// [`Command::ErrorUnlessNoGroup`]: the streams looked up in order.
fn error_unless_no_group(
    engine: &Engine,
    keys: &[Vec<u8>],
    group: &[u8],
    missing: &MissingGroup,
    error: CommandError,
) -> Result<Reply, RequestError> {
    for key in keys {
        match engine.groups_info(key) {
            Err(crate::Error::NoSuchKey) => return Ok(missing.reply(key, group, false)),
            Err(other) => return Err(other.into()),
            Ok(groups) if !groups.iter().any(|found| found.name == group) => {
                return Ok(missing.reply(key, group, true))
            }
            Ok(_) => {}
        }
    }
    Ok(error.into_reply())
}

/// XGROUP's subcommands.
fn answer_xgroup(engine: &Engine, command: Command) -> Result<Reply, RequestError> {
    Ok(match command {
        Command::XGroupCreate(create) => {
            engine.create_group(
                &create.key,
                &create.group,
                create.target,
                create.mkstream,
                create.entries_read,
                create.policy,
            )?;
            reply::ok()
        }
        Command::XGroupSetId {
            key,
            group,
            target,
            entries_read,
        } => {
            engine.set_group_id(&key, &group, target, entries_read)?;
            reply::ok()
        }
        Command::XGroupDestroy { key, group } => {
            reply::integer(u64::from(engine.destroy_group(&key, &group)?))
        }
        Command::XGroupCreateConsumer {
            key,
            group,
            consumer,
        } => reply::integer(u64::from(engine.create_consumer(&key, &group, &consumer)?)),
        Command::XGroupDelConsumer {
            key,
            group,
            consumer,
        } => reply::integer(engine.delete_consumer(&key, &group, &consumer)?),
        Command::XGroupSetPolicy { key, group, policy } => {
            engine.set_group_policy(&key, &group, policy)?;
            reply::ok()
        }
        Command::XGroupHelp => reply::xgroup_help(),
        other => Reply::Error(format!("ERR internal error: unexpected command {other:?}")),
    })
}
