//! Runs a parsed [`Command`] against a Sluice server: the command becomes a gRPC request, the
//! response becomes engine values ([`Entry`], [`StreamInfo`], IDs, counts) and those become
//! the [`Reply`] through [`crate::reply`], the same functions any other front end uses.
//!
//! A status the server sends is an error reply whose text is the status message (the server
//! sends Redis's text, "ERR no such key"). A failure to reach the server is a
//! [`CliError::Connection`] instead, so the caller can tell "the server said no" from "there
//! is no server".
//!
//! Commands without an RPC of their own:
//! - EXISTS, and the key checks of [`Command::ErrorUnlessMissing`], use Range with COUNT 0:
//!   its `exists` flag answers without reading an entry, and a missing stream is not an error.
//! - PING sends Len for the empty stream name, the cheapest call there is. Any answer from the
//!   Streams service, even a refusal, proves the server is up, so it replies PONG; only
//!   UNIMPLEMENTED (not a Sluice server) and transport failures do not.
//! - XINFO HELP and XGROUP HELP are answered locally.
//! - XRETENTION is SetRetention (CLEAR sends no policy) or GetRetention.
//!
//! The consumer-group commands go through the Groups service (`groups`).

mod groups;

use std::time::Duration;

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::cli::connect::{Authorization, ServerOptions};
use crate::cli::error::{is_transport_failure, CliError};
use crate::command::{Command, RetentionAction, XAdd, XRange, XRead, XSetId};
use crate::id::StreamId;
use crate::model::{Counters, Entry, StreamInfo, TrimSpec, TrimStrategy};
use crate::proto::convert::{field_from_proto, field_to_proto, key, StreamKey};
use crate::proto::groups::full_group_from_proto;
use crate::proto::retention::{policy_from_proto, policy_to_proto, status_from_proto};
use crate::proto::v1 as proto;
use crate::proto::v1::groups_client::GroupsClient;
use crate::proto::v1::streams_client::StreamsClient;
use crate::reply::{self, Reply};

/// How long connecting may take before the client gives up.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The largest response the client accepts: 64 MiB, well above tonic's 4 MiB default, so a
/// large XRANGE or XINFO FULL is limited by the server's own reply budget rather than here.
pub const RESPONSE_BYTES_MAX: usize = 64 << 20;

/// Why a command produced no reply of its own.
enum Failure {
    /// A status from the server or the transport.
    Status(Status),
    /// A response the client cannot make sense of; shown as an error reply.
    Protocol(String),
}

impl From<Status> for Failure {
    fn from(status: Status) -> Failure {
        Failure::Status(status)
    }
}

/// A connection to one Sluice server.
pub struct Client {
    address: String,
    streams: StreamsClient<Connection>,
    groups: GroupsClient<Connection>,
}

/// `HOST:PORT` (or a full `http://` URI) as a URI tonic accepts.
/// A channel that adds the credentials to every call.
type Connection = InterceptedService<Channel, Authorization>;

/// An ID the server sent; `0-0` when it left an optional one empty.
fn id_from_server(text: &str) -> Result<StreamId, Failure> {
    if text.is_empty() {
        return Ok(StreamId::MIN);
    }
    StreamId::parse_strict(text.as_bytes()).map_err(|_| {
        Failure::Protocol(format!(
            "ERR Protocol error: the server sent an invalid stream ID '{text}'"
        ))
    })
}

/// Converts an entry the server sent into the engine's type.
pub fn entry_from_proto(entry: proto::Entry) -> Result<Entry, String> {
    entry_from_server(entry).map_err(|failure| match failure {
        Failure::Protocol(text) => text,
        Failure::Status(status) => status.message().to_owned(),
    })
}

fn entry_from_server(entry: proto::Entry) -> Result<Entry, Failure> {
    Ok(Entry {
        id: id_from_server(&entry.id)?,
        fields: entry.fields.into_iter().map(field_from_proto).collect(),
    })
}

fn entries_from_server(entries: Vec<proto::Entry>) -> Result<Vec<Entry>, Failure> {
    entries.into_iter().map(entry_from_server).collect()
}

fn trim_to_proto(trim: &TrimSpec) -> proto::Trim {
    proto::Trim {
        threshold: Some(match trim.strategy {
            TrimStrategy::MaxLen(maxlen) => proto::trim::Threshold::Maxlen(maxlen),
            TrimStrategy::MinId(id) => proto::trim::Threshold::Minid(id.to_string()),
        }),
        approximate: trim.approx,
        limit: trim.limit,
    }
}

impl Client {
    /// Connects to `address` (`HOST:PORT`).
    pub async fn connect(server: &ServerOptions) -> Result<Client, CliError> {
        let address = server.address.as_str();
        let authorization = Authorization(server.authorization()?);
        let endpoint = server
            .endpoint()?
            .connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| CliError::connection(address, &error))?;
        Ok(Client {
            address: address.to_owned(),
            streams: StreamsClient::with_interceptor(channel.clone(), authorization.clone())
                .max_decoding_message_size(RESPONSE_BYTES_MAX),
            groups: GroupsClient::with_interceptor(channel, authorization)
                .max_decoding_message_size(RESPONSE_BYTES_MAX),
        })
    }

    /// The address this client talks to, as given.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs one command. Error replies are `Ok`; only a failure to reach the server is `Err`.
    pub async fn execute(&mut self, command: &Command) -> Result<Reply, CliError> {
        match self.run(command).await {
            Ok(reply) => Ok(reply),
            Err(Failure::Protocol(text)) => Ok(Reply::Error(text)),
            Err(Failure::Status(status)) => self.status_reply(status),
        }
    }

    /// A status as an error reply, or as a connection failure when it came from the transport.
    fn status_reply(&self, status: Status) -> Result<Reply, CliError> {
        if is_transport_failure(&status) {
            return Err(CliError::connection(&self.address, &status));
        }
        if status.message().is_empty() {
            return Ok(Reply::Error(format!("ERR {}", status.code().description())));
        }
        Ok(Reply::Error(status.message().to_owned()))
    }

    /// Follows `name` after `after` (an ID, `0` or `$`) with the Tail RPC.
    pub async fn tail(
        &mut self,
        name: &[u8],
        after: &str,
    ) -> Result<tonic::Streaming<proto::TailResponse>, CliError> {
        let request = proto::TailRequest {
            key: key(name),
            id: after.to_owned(),
            batch: 0,
        };
        match self.streams.tail(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.tail_failure(status)),
        }
    }

    /// What a failed Tail call means for the user.
    pub fn tail_failure(&self, status: Status) -> CliError {
        if is_transport_failure(&status) {
            CliError::connection(&self.address, &status)
        } else {
            CliError::Server(status.message().to_owned())
        }
    }

    async fn run(&mut self, command: &Command) -> Result<Reply, Failure> {
        match command {
            Command::Ping { message } => self.ping(message.as_deref()).await,
            Command::XAdd(add) => self.xadd(add).await,
            Command::XRange(range) => self.xrange(range).await,
            Command::XRead(read) => self.xread(read).await,
            Command::XLen { key: name } => {
                let request = proto::LenRequest { key: key(name) };
                let response = self.streams.len(request).await?.into_inner();
                Ok(reply::integer(response.length))
            }
            Command::XDel { key: name, ids } => {
                let request = proto::DeleteRequest {
                    key: key(name),
                    ids: ids.iter().map(StreamId::to_string).collect(),
                };
                let response = self.streams.delete(request).await?.into_inner();
                Ok(reply::integer(response.deleted))
            }
            Command::XTrim { key: name, trim } => {
                let request = proto::TrimRequest {
                    key: key(name),
                    trim: Some(trim_to_proto(trim)),
                };
                let response = self.streams.trim(request).await?.into_inner();
                Ok(reply::integer(response.removed))
            }
            Command::XSetId(set_id) => self.xsetid(set_id).await,
            Command::XInfoStream { key: name, full } => self.xinfo_stream(name, *full).await,
            Command::XInfoHelp => Ok(reply::xinfo_help()),
            Command::XRetention { key: name, action } => self.xretention(name, *action).await,
            Command::Del { keys } => {
                let mut request = proto::DropRequest::default();
                for name in keys {
                    match String::from_utf8(name.clone()) {
                        Ok(text) => request.streams.push(text),
                        Err(bytes) => request.streams_bytes.push(bytes.into_bytes()),
                    }
                }
                let response = self.streams.drop(request).await?.into_inner();
                Ok(reply::integer(response.dropped))
            }
            Command::Exists { keys } => {
                let mut found = 0;
                for name in keys {
                    if self.exists(name).await? {
                        found += 1;
                    }
                }
                Ok(reply::integer(found))
            }
            Command::Keys { pattern } => self.keys(pattern).await,
            Command::Type { key: name } => Ok(Reply::Status(
                if self.exists(name).await? {
                    "stream"
                } else {
                    "none"
                }
                .to_owned(),
            )),
            Command::DbSize => match self.keys(b"*").await? {
                Reply::Array(names) => Ok(reply::integer(names.len() as u64)),
                other => Ok(other),
            },
            Command::ErrorUnlessMissing {
                key: name,
                missing,
                error,
            } => {
                if self.exists(name).await? {
                    Ok(error.clone().into_reply())
                } else {
                    Ok(missing.clone())
                }
            }
            group_command => match self.run_group(group_command).await {
                Some(outcome) => outcome,
                None => Err(Failure::Protocol(format!(
                    "ERR the client cannot send {group_command:?}"
                ))),
            },
        }
    }

    async fn ping(&mut self, message: Option<&[u8]>) -> Result<Reply, Failure> {
        let request = proto::LenRequest {
            key: Some(proto::len_request::Key::Stream(String::new())),
        };
        match self.streams.len(request).await {
            Ok(_) => {}
            Err(status)
                if is_transport_failure(&status) || status.code() == Code::Unimplemented =>
            {
                return Err(Failure::Status(status))
            }
            // The service answered, if only to refuse the empty name: the server is up.
            Err(_) => {}
        }
        Ok(message.map_or_else(reply::pong, Reply::bulk))
    }

    async fn exists(&mut self, name: &[u8]) -> Result<bool, Failure> {
        let request = proto::RangeRequest {
            key: key(name),
            start: "-".to_owned(),
            end: "+".to_owned(),
            count: Some(0),
            reverse: false,
        };
        Ok(self.streams.range(request).await?.into_inner().exists)
    }

    async fn xadd(&mut self, add: &XAdd) -> Result<Reply, Failure> {
        let request = proto::AddRequest {
            key: key(&add.key),
            // "*", "<ms>-*" or "<ms>-<seq>": AddId prints Redis's forms.
            id: add.id.to_string(),
            fields: add.fields.iter().cloned().map(field_to_proto).collect(),
            entries: Vec::new(),
            nomkstream: add.nomkstream,
            trim: add.trim.as_ref().map(trim_to_proto),
        };
        let response = self.streams.add(request).await?.into_inner();
        if response.id.is_empty() {
            return Ok(reply::xadd(None));
        }
        Ok(reply::xadd(Some(id_from_server(&response.id)?)))
    }

    async fn xrange(&mut self, range: &XRange) -> Result<Reply, Failure> {
        // The bounds travel resolved (inclusive, complete IDs), so the server reads exactly
        // the range this client parsed.
        let request = proto::RangeRequest {
            key: key(&range.key),
            start: range.range.start.to_string(),
            end: range.range.end.to_string(),
            count: range.count,
            reverse: range.reverse,
        };
        let response = self.streams.range(request).await?.into_inner();
        let found = entries_from_server(response.entries)?;
        Ok(reply::xrange(range.count, response.exists, &found))
    }

    async fn xread(&mut self, read: &XRead) -> Result<Reply, Failure> {
        let request = proto::ReadRequest {
            streams: read
                .streams
                .iter()
                .map(|(name, start)| proto::StreamOffset {
                    key: key(name),
                    id: start.to_argument(),
                })
                .collect(),
            count: read.count,
            block_ms: read.block_ms,
        };
        let response = self.streams.read(request).await?.into_inner();
        let mut streams = Vec::with_capacity(response.streams.len());
        for stream in response.streams {
            let name = stream.key.map(StreamKey::into_name).unwrap_or_default();
            streams.push((name, entries_from_server(stream.entries)?));
        }
        Ok(reply::xread(&streams))
    }

    async fn xsetid(&mut self, set_id: &XSetId) -> Result<Reply, Failure> {
        let request = proto::SetIdRequest {
            key: key(&set_id.key),
            last_id: set_id.last_id.to_string(),
            entries_added: set_id.entries_added,
            max_deleted_id: set_id
                .max_deleted
                .map(|id| id.to_string())
                .unwrap_or_default(),
        };
        self.streams.set_id(request).await?;
        Ok(reply::ok())
    }

    async fn xinfo_stream(&mut self, name: &[u8], full: Option<u64>) -> Result<Reply, Failure> {
        let request = proto::InfoRequest {
            key: key(name),
            full: full.is_some(),
            count: full,
        };
        let response = self.streams.info(request).await?.into_inner();
        let info = StreamInfo {
            counters: Counters {
                length: response.length,
                last_id: id_from_server(&response.last_generated_id)?,
                entries_added: response.entries_added,
                max_deleted: id_from_server(&response.max_deleted_entry_id)?,
            },
            recorded_first_id: id_from_server(&response.recorded_first_entry_id)?,
            first_entry: response.first_entry.map(entry_from_server).transpose()?,
            last_entry: response.last_entry.map(entry_from_server).transpose()?,
            segments: response.radix_tree_keys,
            index_points: response.radix_tree_nodes,
            entries: match full {
                Some(_) => Some(entries_from_server(response.entries)?),
                None => None,
            },
            groups: response.groups,
            full_groups: response
                .full_groups
                .into_iter()
                .map(full_group_from_proto)
                .collect::<Result<_, _>>()
                .map_err(Failure::Protocol)?,
            retention: response
                .retention
                .map(|policy| policy_from_proto(Some(policy))),
        };
        Ok(reply::xinfo_stream(&info, full.is_some()))
    }

    /// XRETENTION through SetRetention and GetRetention (CLEAR sets the empty policy).
    async fn xretention(&mut self, name: &[u8], action: RetentionAction) -> Result<Reply, Failure> {
        let policy = match action {
            RetentionAction::Get => {
                let request = proto::GetRetentionRequest { key: key(name) };
                let response = self.streams.get_retention(request).await?.into_inner();
                let policy = response
                    .policy
                    .map(|policy| policy_from_proto(Some(policy)));
                let status = response.status.map(status_from_proto);
                return Ok(reply::xretention(policy.as_ref(), status.as_ref()));
            }
            RetentionAction::Set(policy) => Some(policy_to_proto(&policy)),
            RetentionAction::Clear => None,
        };
        let request = proto::SetRetentionRequest {
            key: key(name),
            policy,
        };
        self.streams.set_retention(request).await?;
        Ok(reply::ok())
    }

    async fn keys(&mut self, pattern: &[u8]) -> Result<Reply, Failure> {
        // The API reads an empty pattern as "everything"; in Redis it matches only the key
        // named "" — which is an existence check.
        if pattern.is_empty() {
            let names = if self.exists(b"").await? {
                vec![Vec::new()]
            } else {
                Vec::new()
            };
            return Ok(reply::keys(&names));
        }
        let Ok(pattern) = String::from_utf8(pattern.to_vec()) else {
            return Ok(Reply::error(
                "ERR Sluice takes KEYS patterns as UTF-8 text; this one is not",
            ));
        };
        let response = self
            .streams
            .list(proto::ListRequest { pattern })
            .await?
            .into_inner();
        let mut names: Vec<Vec<u8>> = response
            .streams
            .into_iter()
            .map(String::into_bytes)
            .chain(response.streams_bytes)
            .collect();
        names.sort();
        Ok(reply::keys(&names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let field: crate::Field = (b"name".to_vec(), b"a\0\xffb".to_vec());
        let sent = field_to_proto(field.clone());
        assert_eq!(
            sent.field_value,
            Some(proto::field::FieldValue::ValueBytes(b"a\0\xffb".to_vec()))
        );
        assert_eq!(field_from_proto(sent), field);
    }

    #[test]
    fn server_ids_are_checked() {
        assert_eq!(id_from_server("5-1").ok(), Some(StreamId::new(5, 1)));
        assert_eq!(id_from_server("").ok(), Some(StreamId::MIN));
        match id_from_server("nonsense") {
            Err(Failure::Protocol(text)) => assert!(text.contains("'nonsense'")),
            _ => panic!("an invalid ID was accepted"),
        }
    }

    #[test]
    fn trims_translate() {
        let trim = trim_to_proto(&TrimSpec {
            strategy: TrimStrategy::MinId(StreamId::new(5, 0)),
            approx: true,
            limit: 3,
        });
        assert_eq!(
            trim.threshold,
            Some(proto::trim::Threshold::Minid("5-0".to_owned()))
        );
        assert!(trim.approximate);
        assert_eq!(trim.limit, 3);
    }
}
