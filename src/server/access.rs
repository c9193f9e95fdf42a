//! Who may do what, for both front ends: which permission each call needs on which streams
//! (one table for gRPC requests, one for the command layer's commands), and the check.
//!
//! With `--users`, every gRPC call but the health service and reflection carries credentials
//! (`authorization: Basic base64(user:password)` or `authorization: Bearer USER.SECRET`);
//! the [`Authenticate`] layer verifies them and hands the handlers a [`Principal`], or
//! answers UNAUTHENTICATED. A handler then checks what its request needs with
//! [`authorize`]: PERMISSION_DENIED names the stream and the missing permission. The check
//! comes before anything runs, so a refused call changes nothing. Without `--users` the
//! principal is [`Principal::Anyone`] and every check passes. A principal is looked up in
//! the users in force at each call, so a reload on SIGHUP applies to the next call.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use futures_util::future::BoxFuture;
use tonic::codegen::http;
use tonic::{Request, Status};

use crate::command::{Command, RetentionAction};
use crate::model::{GroupPolicy, DEAD_LETTER_SUFFIX};
use crate::proto::convert::StreamKey;
use crate::proto::v1;
use crate::server::around::{AroundCall, HttpRequest, HttpResponse};
use crate::server::status::RequestError;
use crate::server::users::{AuthError, Credentials, Permission, User, Users};

/// Who a call runs as.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Users are off: everything is allowed.
    Anyone,
    /// An authenticated user.
    User(Arc<User>),
}

impl Principal {
    /// Whether the principal holds `permission` on `stream`.
    pub fn may(&self, permission: Permission, stream: &[u8]) -> bool {
        match self {
            Principal::Anyone => true,
            Principal::User(user) => user.may(permission, stream),
        }
    }

    /// Checks every (permission, stream) pair; the first missing one is the error.
    pub fn check(
        &self,
        needs: impl IntoIterator<Item = (Permission, impl AsRef<[u8]>)>,
    ) -> Result<(), RequestError> {
        let Principal::User(user) = self else {
            return Ok(());
        };
        for (permission, stream) in needs {
            let stream = stream.as_ref();
            if !user.may(permission, stream) {
                return Err(RequestError::PermissionDenied {
                    user: user.name.clone(),
                    permission,
                    stream: String::from_utf8_lossy(stream).into_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The principal the [`Authenticate`] layer attached to `request`; none means the layer did
/// not run, which is refused (fail closed).
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no credentials were checked for this call"))
}

/// Checks that the caller of `request` holds what it needs.
pub fn authorize<T: Needs>(request: &Request<T>) -> Result<(), Status> {
    match principal(request)? {
        // Without users anyone may do anything: the needs are not even listed.
        Principal::Anyone => Ok(()),
        user => user
            .check(request.get_ref().needs())
            .map_err(crate::server::status::status),
    }
}

/// A stream a call needs a permission on: named in the request, or derived from it (a
/// group's default dead-letter stream).
pub type Name<'a> = Cow<'a, [u8]>;

/// What a request needs: a permission on each stream it names.
pub trait Needs {
    /// The (permission, stream) pairs.
    fn needs(&self) -> Vec<(Permission, Name<'_>)>;
}

fn on<K: StreamKey>(permission: Permission, key: &Option<K>) -> Vec<(Permission, Name<'_>)> {
    key.iter()
        .map(|key| (permission, Cow::Borrowed(key.name())))
        .collect()
}

/// Write on the stream a group policy sends dead letters to, if it sends any: the explicit
/// one, or `<stream>:dead-letter` when it has a delivery limit.
fn dead_letter_needs<'a>(
    stream: &[u8],
    max_deliveries: u64,
    explicit: Option<&'a [u8]>,
) -> Option<(Permission, Name<'a>)> {
    match explicit {
        Some(target) => Some((Permission::Write, Cow::Borrowed(target))),
        None if max_deliveries > 0 => Some((
            Permission::Write,
            Cow::Owned([stream, DEAD_LETTER_SUFFIX].concat()),
        )),
        None => None,
    }
}

macro_rules! needs {
    ($($permission:ident: $($message:ident),+;)*) => {
        $($(impl Needs for v1::$message {
            fn needs(&self) -> Vec<(Permission, Name<'_>)> {
                on(Permission::$permission, &self.key)
            }
        })+)*
    };
}

needs! {
    Read: RangeRequest, TailRequest, LenRequest, InfoRequest, GroupsInfoRequest,
        ConsumersRequest, GetRetentionRequest;
    Write: AddRequest, DeleteRequest, TrimRequest, SetIdRequest;
    Consume: AckRequest, NackRequest, RenewRequest, PendingRequest, ClaimRequest,
        AutoClaimRequest, ConsumeStart;
    Admin: SetGroupIdRequest, DestroyGroupRequest, ConsumerRequest, SetRetentionRequest;
}

impl Needs for v1::ReadRequest {
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        let keys = self.streams.iter().filter_map(|offset| offset.key.as_ref());
        keys.map(|key| (Permission::Read, name(key.name())))
            .collect()
    }
}

impl Needs for v1::ReadGroupRequest {
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        let keys = self.streams.iter().filter_map(|offset| offset.key.as_ref());
        keys.map(|key| (Permission::Consume, name(key.name())))
            .collect()
    }
}

impl Needs for v1::DropRequest {
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        let text = self.streams.iter().map(String::as_bytes);
        let bytes = self.streams_bytes.iter().map(Vec::as_slice);
        text.chain(bytes)
            .map(|stream| (Permission::Admin, name(stream)))
            .collect()
    }
}

impl Needs for v1::ListRequest {
    /// Listing needs nothing; the reply holds only the names the caller may read.
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        Vec::new()
    }
}

/// Admin on the stream, and write on where the policy sends dead letters.
fn group_policy_needs<'a, K: StreamKey>(
    key: &'a Option<K>,
    policy: Option<&'a v1::GroupPolicy>,
) -> Vec<(Permission, Name<'a>)> {
    let mut needs = on(Permission::Admin, key);
    if let (Some(key), Some(policy)) = (key, policy) {
        let explicit = policy.dead_letter.as_ref().map(|target| target.name());
        needs.extend(dead_letter_needs(
            key.name(),
            policy.max_deliveries,
            explicit,
        ));
    }
    needs
}

impl Needs for v1::SetPolicyRequest {
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        group_policy_needs(&self.key, self.policy.as_ref())
    }
}

impl Needs for v1::CreateGroupRequest {
    fn needs(&self) -> Vec<(Permission, Name<'_>)> {
        group_policy_needs(&self.key, self.policy.as_ref())
    }
}

/// What a command of the command layer (RESP, the CLI's language) needs. Commands that
/// touch no stream need nothing; FLUSHALL needs admin on every stream (`*`), which the
/// caller checks with [`admin_of_all`].
pub fn command_needs(command: &Command) -> Vec<(Permission, Name<'_>)> {
    use Permission::*;
    match command {
        Command::Ping { .. }
        | Command::XInfoHelp
        | Command::XGroupHelp
        | Command::Keys { .. }
        | Command::DbSize
        | Command::FlushAll
        | Command::Scan(_) => Vec::new(),
        Command::XAdd(add) => one(Write, &add.key),
        Command::XRange(range) => one(Read, &range.key),
        Command::XRead(read) => read.streams.iter().map(|(k, _)| (Read, name(k))).collect(),
        Command::XLen { key }
        | Command::XInfoStream { key, .. }
        | Command::XInfoGroups { key }
        | Command::XInfoConsumers { key, .. }
        | Command::Type { key }
        | Command::ErrorUnlessMissing { key, .. } => one(Read, key),
        Command::XDel { key, .. } | Command::XTrim { key, .. } => one(Write, key),
        Command::XSetId(set) => one(Write, &set.key),
        Command::XGroupCreate(create) => command_policy_needs(&create.key, &create.policy),
        Command::XGroupSetId { key, .. }
        | Command::XGroupDestroy { key, .. }
        | Command::XGroupCreateConsumer { key, .. }
        | Command::XGroupDelConsumer { key, .. } => one(Admin, key),
        Command::XGroupSetPolicy { key, policy, .. } => command_policy_needs(key, policy),
        Command::XReadGroup(read) => read
            .streams
            .iter()
            .map(|(k, _)| (Consume, name(k)))
            .collect(),
        Command::XAck { key, .. } | Command::XRenew { key, .. } => one(Consume, key),
        Command::XPending(pending) => one(Consume, &pending.key),
        Command::XClaim(claim) => one(Consume, &claim.key),
        Command::XAutoClaim(claim) => one(Consume, &claim.key),
        Command::XNack(nack) => one(Consume, &nack.key),
        Command::Del { keys } => keys.iter().map(|k| (Admin, name(k))).collect(),
        Command::Exists { keys } | Command::ErrorUnlessNoGroup { keys, .. } => {
            keys.iter().map(|k| (Read, name(k))).collect()
        }
        Command::Rename { from, to } => vec![(Admin, name(from)), (Admin, name(to))],
        Command::XRetention { key, action } => match action {
            RetentionAction::Get => one(Read, key),
            RetentionAction::Set(_) | RetentionAction::Clear => one(Admin, key),
        },
    }
}

fn one(permission: Permission, key: &[u8]) -> Vec<(Permission, Name<'_>)> {
    vec![(permission, Cow::Borrowed(key))]
}

fn name(key: &[u8]) -> Name<'_> {
    Cow::Borrowed(key)
}

/// XGROUP CREATE / SETPOLICY: admin on the stream, write on where dead letters go.
fn command_policy_needs<'a>(key: &'a [u8], policy: &'a GroupPolicy) -> Vec<(Permission, Name<'a>)> {
    let mut needs = one(Permission::Admin, key);
    let explicit = policy.dead_letter_stream.as_deref();
    needs.extend(dead_letter_needs(key, policy.max_deliveries, explicit));
    needs
}

/// Whether `principal` holds admin on every stream (`*`): what FLUSHALL / FLUSHDB and the
/// server-wide RESP commands (CONFIG SET, CLIENT LIST, CLIENT UNBLOCK) need.
pub fn admin_of_all(principal: &Principal) -> bool {
    match principal {
        Principal::Anyone => true,
        Principal::User(user) => user.may_all(Permission::Admin),
    }
}

/// The credentials of an `authorization` header value (`Basic …` or `Bearer …`).
pub fn parse_authorization(value: &[u8]) -> Option<Credentials> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Credentials::Token(rest.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()?;
    let colon = decoded.iter().position(|&byte| byte == b':')?;
    Some(Credentials::Password {
        user: String::from_utf8(decoded[..colon].to_vec()).ok()?,
        password: decoded[colon + 1..].to_vec(),
    })
}

/// Paths that stay open without credentials: the health service and reflection (which
/// describes the API, as the proto files in the repository do).
fn open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// The step that authenticates every gRPC call (see the module's documentation); a layer
/// through [`Around`](crate::server::around::Around).
#[derive(Clone)]
pub struct Authenticate {
    users: Option<Arc<Users>>,
}

impl Authenticate {
    /// Authenticates against `users`, or lets everything through as [`Principal::Anyone`].
    pub fn new(users: Option<Arc<Users>>) -> Authenticate {
        Authenticate { users }
    }
}

impl AroundCall for Authenticate {
    fn around<S>(
        &self,
        mut request: HttpRequest,
        mut inner: S,
    ) -> BoxFuture<'static, Result<HttpResponse, S::Error>>
    where
        S: tower::Service<HttpRequest, Response = HttpResponse> + Send + 'static,
        S::Future: Send + 'static,
    {
        let Some(users) = self.users.clone() else {
            request.extensions_mut().insert(Principal::Anyone);
            return Box::pin(inner.call(request));
        };
        Box::pin(async move {
            if open_path(request.uri().path()) {
                return inner.call(request).await;
            }
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|value| value.as_bytes().to_vec());
            let peer = peer(&request);
            match authenticate(&users, header, peer).await {
                Ok(user) => {
                    request.extensions_mut().insert(Principal::User(user));
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// Verifies the request's credentials (on the blocking pool unless remembered).
async fn authenticate(
    users: &Arc<Users>,
    header: Option<Vec<u8>>,
    peer: String,
) -> Result<Arc<User>, Status> {
    let Some(credentials) = header.and_then(|value| parse_authorization(&value)) else {
        tracing::warn!(%peer, "gRPC call without credentials refused");
        return Err(Status::unauthenticated(
            "authentication required: send `authorization: Basic base64(user:password)` or \
             `authorization: Bearer USER.SECRET`",
        ));
    };
    let claimed = credentials.user().to_owned();
    let verified = users.authenticate(credentials).await;
    verified.map_err(|error| {
        tracing::warn!(%peer, user = ?claimed, "gRPC authentication failed: {error}");
        match error {
            AuthError::Invalid => Status::unauthenticated(error.to_string()),
            AuthError::Busy => Status::unavailable(error.to_string()),
        }
    })
}

/// The client's address, for logs.
fn peer(request: &HttpRequest) -> String {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let extensions = request.extensions();
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
        .map_or_else(|| "unknown".to_owned(), |address| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_parse() {
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:p:w");
        assert_eq!(
            parse_authorization(format!("Basic {basic}").as_bytes()),
            Some(Credentials::Password {
                user: "alice".to_owned(),
                password: b"p:w".to_vec()
            })
        );
        assert_eq!(
            parse_authorization(b"Bearer alice.00ff"),
            Some(Credentials::Token("alice.00ff".to_owned()))
        );
        assert_eq!(parse_authorization(b"Digest xyz"), None);
        assert_eq!(parse_authorization(b"Basic !!!"), None);
        assert_eq!(parse_authorization(b"Bearer"), None);
    }

    /// Every RPC handler of both services checks its caller: a new RPC without the check
    /// fails here.
    #[test]
    fn every_rpc_handler_checks_its_caller() {
        for (file, source) in [
            ("streams.rs", include_str!("streams.rs")),
            ("groups.rs", include_str!("groups.rs")),
        ] {
            let handlers = source.matches("        request: Request<").count();
            let checks = source.matches("        authorize(&request)?;").count()
                + source.matches("principal(&request)?;").count();
            assert!(handlers > 10, "{file}: {handlers} handlers found");
            assert_eq!(handlers, checks, "{file}: a handler does not authorize");
        }
    }

    #[test]
    fn every_stream_of_a_command_is_checked() {
        let parse = |words: &[&str]| {
            let arguments: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            crate::command::parse(&arguments).unwrap()
        };
        let read = parse(&["XREAD", "STREAMS", "a", "b", "0", "0"]);
        assert_eq!(
            command_needs(&read),
            vec![
                (Permission::Read, name(b"a")),
                (Permission::Read, name(b"b"))
            ]
        );
        let rename = parse(&["RENAME", "a", "b"]);
        assert_eq!(
            command_needs(&rename),
            vec![
                (Permission::Admin, name(b"a")),
                (Permission::Admin, name(b"b"))
            ]
        );
        let group = parse(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"]);
        assert_eq!(
            command_needs(&group),
            vec![(Permission::Consume, name(b"s"))]
        );
        let limited = parse(&["XGROUP", "SETPOLICY", "s", "g", "MAXDELIVERIES", "3"]);
        assert_eq!(
            command_needs(&limited),
            vec![
                (Permission::Admin, name(b"s")),
                (Permission::Write, Cow::Owned(b"s:dead-letter".to_vec()))
            ]
        );
        let elsewhere = parse(&["XGROUP", "SETPOLICY", "s", "g", "DEADLETTER", "dl"]);
        assert_eq!(
            command_needs(&elsewhere),
            vec![
                (Permission::Admin, name(b"s")),
                (Permission::Write, name(b"dl"))
            ]
        );
        let unlimited = parse(&["XGROUP", "SETPOLICY", "s", "g", "LEASE", "5"]);
        assert_eq!(
            command_needs(&unlimited),
            vec![(Permission::Admin, name(b"s"))]
        );
    }
}
