//! Running the command layer's stream and keyspace commands against the engine, for one
//! RESP connection. The group commands are in `group`, the blocking waits in `block`.
//!
//! Where a command runs follows the gRPC side's rules: XADD appends on the connection's task
//! and its reply waits for durability in the connection's queue; reads that stay in memory
//! (XLEN, EXISTS, KEYS, a range of the newest entries) run on the task; anything that may
//! read cold data or sync files (XDEL, XTRIM, XSETID, XINFO, XRETENTION, DEL, older ranges) runs on the
//! blocking pool, and the next command waits for it, so a pipeline's commands take effect in
//! order. Every command runs holding the server's gate shared (see `connection`).

use std::sync::Arc;

use crate::command::{self, Command, CommandError, RetentionAction, Scan, XAdd, XRange};
use crate::engine::Engine;
use crate::model::ReadLimit;
use crate::reply::{self, Reply};
use crate::server::access::{self, Principal};
use crate::server::resp::connection::{Connection, Queued, NOAUTH};
use crate::server::resp::{admin, introspect};
use crate::server::status::RequestError;
use crate::server::streams::blocking;
use crate::server::users::Permission;

impl Connection {
    /// A command outside MULTI's own: a connection or server command, else a stream command.
    pub(super) async fn run_command(&mut self, name: &str, arguments: Vec<Vec<u8>>) -> Queued {
        if let Some(reply) = admin::run(self, name, &arguments).await {
            return reply.into();
        }
        match command::parse(&arguments) {
            Ok(command) => self.execute(command).await,
            Err(error) => error.into_reply().into(),
        }
    }

    /// Why a request cannot even be queued inside MULTI (an unknown command or subcommand, a
    /// wrong arity), if it cannot.
    pub(super) fn refusal_in_multi(arguments: &[Vec<u8>]) -> Option<CommandError> {
        match introspect::check(arguments) {
            Some(checked) => checked.err(),
            None => command::check(arguments).err(),
        }
    }

    /// The name of the command `name` selects, if Sluice knows it (for INFO's statistics).
    pub(super) fn known_name(name: &[u8]) -> Option<&'static str> {
        introspect::known_name(name)
    }

    /// Runs `command`; an error becomes its Redis error reply.
    pub(super) async fn execute(&mut self, command: Command) -> Queued {
        if let Err(refused) = self.permitted(&command) {
            return refused.into();
        }
        let shared = Arc::clone(&self.shared);
        let gate = if self.in_exec {
            None
        } else {
            Some(shared.gate.shared().await)
        };
        let answered = match command {
            Command::XRead(read) => {
                // A blocking read waits without the gate (block.rs takes it for each read).
                drop(gate);
                return self.xread(read).await.unwrap_or_else(error_reply).into();
            }
            Command::XReadGroup(read) => {
                drop(gate);
                return self
                    .xreadgroup(read)
                    .await
                    .unwrap_or_else(error_reply)
                    .into();
            }
            Command::XAdd(add) => self.xadd(add),
            Command::XAck { key, group, ids } => self
                .shared
                .engine
                .ack_deferred(&key, &group, &ids)
                .map(|acked| Queued::Durable(acked.map(reply::integer)))
                .map_err(RequestError::from),
            Command::DbSize => {
                // The streams the user may read.
                let principal = self.principal().unwrap_or(Principal::Anyone);
                let names = self.shared.engine.list(None);
                let readable = names
                    .iter()
                    .filter(|name| principal.may(Permission::Read, name));
                Ok(Queued::Reply(reply::integer(readable.count() as u64)))
            }
            command @ (Command::Keys { .. } | Command::Scan(_)) => {
                let listed = self.answer(command).await;
                let principal = self.principal().unwrap_or(Principal::Anyone);
                listed.map(|reply| Queued::Reply(readable_names(reply, &principal)))
            }
            command => self.answer(command).await.map(Queued::Reply),
        };
        answered.unwrap_or_else(|error| error_reply(error).into())
    }

    /// Whether the connection's user may run `command`: Redis's NOAUTH and NOPERM replies if
    /// not.
    fn permitted(&self, command: &Command) -> Result<(), Reply> {
        let Some(principal) = self.principal() else {
            return Err(Reply::error(NOAUTH));
        };
        if matches!(command, Command::FlushAll) && !access::admin_of_all(&principal) {
            return Err(Reply::error(
                "NOPERM this user has no permissions to run the 'flushall' command",
            ));
        }
        principal
            .check(access::command_needs(command))
            .map_err(|_| {
                Reply::error(
                    "NOPERM this user has no permissions to access one of the keys used as \
                     arguments",
                )
            })
    }

    /// XADD: appended now, replied once durable.
    fn xadd(&self, add: XAdd) -> Result<Queued, RequestError> {
        let entry = crate::NewEntry {
            id: add.id,
            fields: add.fields,
        };
        let commit = self.shared.engine.add_deferred(
            &add.key,
            std::slice::from_ref(&entry),
            add.nomkstream,
            add.trim.as_ref(),
        )?;
        Ok(Queued::Durable(commit.map(|ids| {
            reply::xadd(ids.and_then(|ids| ids.last().copied()))
        })))
    }

    /// Every command that replies at once.
    async fn answer(&mut self, command: Command) -> Result<Reply, RequestError> {
        let engine = self.shared.engine.clone();
        Ok(match command {
            Command::Ping { message } => message.map_or_else(reply::pong, Reply::Bulk),
            Command::XRange(range) => self.xrange(range).await?,
            Command::XLen { key } => reply::integer(engine.len(&key)?),
            Command::XDel { key, ids } => {
                blocking(move || Ok(reply::integer(engine.delete(&key, &ids)?))).await?
            }
            Command::XTrim { key, trim } => {
                blocking(move || Ok(reply::integer(engine.trim(&key, &trim)?))).await?
            }
            Command::XSetId(set_id) => {
                blocking(move || {
                    engine.set_id(
                        &set_id.key,
                        set_id.last_id,
                        set_id.entries_added,
                        set_id.max_deleted,
                    )?;
                    Ok(reply::ok())
                })
                .await?
            }
            Command::XInfoStream { key, full } => {
                let limit = ReadLimit {
                    count: usize::MAX,
                    bytes: self.shared.limits.message_bytes_max,
                    partial: false,
                };
                blocking(move || {
                    let full_count = full.map(|count| usize::try_from(count).unwrap_or(usize::MAX));
                    let info = engine.info(&key, full_count, limit)?;
                    Ok(reply::xinfo_stream(&info, full.is_some()))
                })
                .await?
            }
            Command::XInfoHelp => reply::xinfo_help(),
            Command::XRetention { key, action } => {
                blocking(move || answer_retention(&engine, &key, action)).await?
            }
            command @ (Command::Del { .. }
            | Command::Exists { .. }
            | Command::Keys { .. }
            | Command::Type { .. }
            | Command::DbSize
            | Command::FlushAll
            | Command::Scan(_)
            | Command::Rename { .. }) => keyspace(&engine, command).await?,
            Command::ErrorUnlessMissing {
                key,
                missing,
                error,
            } => {
                if engine.exists(&key)? {
                    error.into_reply()
                } else {
                    missing
                }
            }
            group_command => self.answer_group(group_command).await?,
        })
    }

    /// XRANGE / XREVRANGE: on the task when the newest entries serve it, else on the pool.
    async fn xrange(&self, range: XRange) -> Result<Reply, RequestError> {
        let budget = self.shared.limits.entries_lenient(range.count);
        let limit = budget.read_limit(self.shared.limits.message_bytes_max);
        let engine = self.shared.engine.clone();
        let found = match engine.range_if_recent(&range.key, range.range, range.reverse, limit) {
            Some(found) => found?,
            None => {
                let key = range.key.clone();
                blocking(move || Ok(engine.range(&key, range.range, range.reverse, limit)?)).await?
            }
        };
        if let Some(entries) = &found {
            budget.check(entries.len())?;
        }
        Ok(reply::xrange_owned(range.count, found))
    }
}

/// Sluice's XRETENTION, synchronously (it writes and syncs the policy file, or takes the
/// stream's groups to count what the guard holds back): the RESP front end runs it on the
/// blocking pool. `ERR no such key` for a missing stream.
pub fn answer_retention(
    engine: &Engine,
    key: &[u8],
    action: RetentionAction,
) -> Result<Reply, RequestError> {
    Ok(match action {
        RetentionAction::Set(policy) => {
            engine.set_retention(key, policy)?;
            reply::ok()
        }
        RetentionAction::Clear => {
            engine.set_retention(key, crate::model::Retention::default())?;
            reply::ok()
        }
        RetentionAction::Get => {
            let policy = engine.retention(key)?;
            let status = engine.retention_status(key)?;
            reply::xretention(policy.as_ref(), status.as_ref())
        }
    })
}

/// An error as its Redis reply.
pub(super) fn error_reply(error: RequestError) -> Reply {
    Reply::Error(error.to_string())
}

/// DEL, EXISTS, KEYS, TYPE, DBSIZE, FLUSHDB / FLUSHALL, SCAN, RENAME.
async fn keyspace(engine: &Engine, command: Command) -> Result<Reply, RequestError> {
    let engine = engine.clone();
    Ok(match command {
        Command::Del { keys } => {
            blocking(move || {
                let mut dropped = 0;
                for key in &keys {
                    if engine.drop_stream(key)? {
                        dropped += 1;
                    }
                }
                Ok(reply::integer(dropped))
            })
            .await?
        }
        Command::FlushAll => {
            blocking(move || {
                for name in engine.list(None) {
                    engine.drop_stream(&name)?;
                }
                Ok(reply::ok())
            })
            .await?
        }
        Command::Exists { keys } => {
            let mut found = 0;
            for key in &keys {
                if engine.exists(key)? {
                    found += 1;
                }
            }
            reply::integer(found)
        }
        Command::Keys { pattern } => reply::keys(&engine.list(Some(&pattern))),
        Command::Type { key } => Reply::Status(
            if engine.exists(&key)? {
                "stream"
            } else {
                "none"
            }
            .to_owned(),
        ),
        Command::DbSize => reply::integer(engine.list(None).len() as u64),
        Command::Scan(scan) => self::scan(&engine, &scan),
        Command::Rename { from, to } => blocking(move || rename(&engine, &from, &to)).await?,
        other => Reply::Error(format!(
            "ERR internal error: {other:?} is not a keyspace command"
        )),
    })
}

/// SCAN: the names in the order of a stable hash of each, the cursor being the hash to go on
/// from. A name that exists for the whole scan is returned at least once, whatever is added
/// or dropped meanwhile, and a cursor stays valid across restarts.
fn scan(engine: &Engine, scan: &Scan) -> Reply {
    let wanted_type = scan
        .key_type
        .as_deref()
        .is_none_or(|key_type| key_type.eq_ignore_ascii_case(b"stream"));
    let mut names: Vec<(u64, Vec<u8>)> = if wanted_type {
        engine
            .list(None)
            .into_iter()
            .map(|name| (scan_hash(&name), name))
            .filter(|(hash, _)| *hash >= scan.cursor)
            .collect()
    } else {
        Vec::new()
    };
    names.sort_unstable();
    let count = usize::try_from(scan.count).unwrap_or(usize::MAX);
    let next = names.get(count).map_or(0, |(hash, _)| *hash);
    names.truncate(count);
    let found = names
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| {
            scan.pattern
                .as_deref()
                .is_none_or(|pattern| crate::glob::glob_match(pattern, name))
        })
        .collect::<Vec<_>>();
    Reply::Array(vec![Reply::bulk(next.to_string()), reply::keys(&found)])
}

/// FNV-1a of `name`, in 1..2^63 (0 is the cursor that starts and ends a scan).
fn scan_hash(name: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in name {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 1).max(1)
}

/// RENAME: `ERR no such key` for a missing stream, as Redis says.
fn rename(engine: &Engine, from: &[u8], to: &[u8]) -> Result<Reply, RequestError> {
    if engine.rename_stream(from, to)? {
        Ok(reply::ok())
    } else {
        Ok(Reply::error("ERR no such key"))
    }
}

/// KEYS' or SCAN's reply with only the names `principal` may read.
fn readable_names(reply: Reply, principal: &Principal) -> Reply {
    let readable = |names: Vec<Reply>| -> Vec<Reply> {
        names
            .into_iter()
            .filter(|name| match name {
                Reply::Bulk(name) => principal.may(Permission::Read, name),
                _ => true,
            })
            .collect()
    };
    match reply {
        // SCAN: [cursor, [names]].
        Reply::Array(mut parts)
            if matches!(parts.as_slice(), [Reply::Bulk(_), Reply::Array(_)]) =>
        {
            if let Some(Reply::Array(names)) = parts.pop() {
                parts.push(Reply::Array(readable(names)));
            }
            Reply::Array(parts)
        }
        Reply::Array(names) => Reply::Array(readable(names)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::scan_hash;

    #[test]
    fn scan_hashes_are_stable_and_never_zero() {
        assert_eq!(scan_hash(b"orders"), scan_hash(b"orders"));
        assert_ne!(scan_hash(b"orders"), scan_hash(b"orderz"));
        assert!(scan_hash(b"") >= 1);
        assert!(scan_hash(b"x") < 1 << 63);
    }
}
