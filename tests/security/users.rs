//! Users and permissions: every permission on every kind of call over gRPC (and that a
//! refused call changes nothing), credentials (basic, bearer, wrong, missing), the health
//! service left open, RESP's NOAUTH / WRONGPASS / NOPERM, listings filtered, the CLI's
//! credentials, and a reload on SIGHUP.

use std::path::Path;

use tokio::process::Command;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

use sluice::cli::connect::Authorization;
use sluice::proto::v1;
use sluice::proto::v1::groups_client::GroupsClient;
use sluice::proto::v1::streams_client::StreamsClient;
use sluice::server::users::hash_secret;

use crate::server_harness::*;

type Streams = StreamsClient<InterceptedService<Channel, Authorization>>;
type Groups = GroupsClient<InterceptedService<Channel, Authorization>>;

/// One user per permission (each on every stream), `alice` (read everything, write and
/// consume `orders:*`), and `ops` with everything.
fn users_file(alice_write: &str) -> String {
    let hash = |password: &str| hash_secret(password.as_bytes()).expect("hash");
    let mut text = String::new();
    for permission in ["read", "write", "consume", "admin"] {
        text += &format!(
            "[users.{permission}]\npassword = \"{}\"\n{permission} = [\"*\"]\n\n",
            hash(permission)
        );
    }
    text += &format!(
        "[users.alice]\npassword = \"{}\"\nread = [\"*\"]\nwrite = [\"{alice_write}\"]\n\
         consume = [\"orders:*\"]\n\n",
        hash("alice-pw")
    );
    text += &format!(
        "[users.ops]\npassword = \"{}\"\nread = [\"*\"]\nwrite = [\"*\"]\nconsume = [\"*\"]\n\
         admin = [\"*\"]\n\n",
        hash("ops-pw")
    );
    // Owns stream `orders` only (not `orders:dead-letter`).
    text += &format!(
        "[users.owner]\npassword = \"{}\"\nread = [\"orders\"]\nwrite = [\"orders\"]\n\
         admin = [\"orders\"]\n",
        hash("owner-pw")
    );
    text
}

async fn start_with_users(dir: &Path, file: &Path) -> Server {
    Launch::new(dir)
        .flag("--users", &file.display().to_string())
        .start()
        .await
}

fn basic(user: &str, password: &str) -> Authorization {
    let mut options = sluice::cli::ServerOptions::plain("x");
    options.user = Some(user.to_owned());
    options.password = Some(password.to_owned());
    Authorization(options.authorization().expect("credentials"))
}

async fn clients(server: &Server, authorization: Authorization) -> (Streams, Groups) {
    let channel = server.channel().await;
    (
        StreamsClient::with_interceptor(channel.clone(), authorization.clone()),
        GroupsClient::with_interceptor(channel, authorization),
    )
}

fn key(stream: &str) -> Option<v1::len_request::Key> {
    Some(v1::len_request::Key::Stream(stream.to_owned()))
}

/// Every RPC of both services, each needing one permission on stream `s` (group `g`).
#[derive(Debug, Clone, Copy)]
enum Call {
    Add,
    Range,
    Read,
    Tail,
    Len,
    Delete,
    Trim,
    SetId,
    Info,
    GetRetention,
    SetRetention,
    CreateGroup,
    SetGroupId,
    DestroyGroup,
    CreateConsumer,
    DeleteConsumer,
    SetPolicy,
    ReadGroup,
    Ack,
    Nack,
    Renew,
    Pending,
    Claim,
    AutoClaim,
    GroupsInfo,
    Consumers,
    Consume,
    Drop,
}

/// In an order where the calls an allowed user makes leave the next ones something to do
/// (Drop last).
const CALLS: [Call; 28] = [
    Call::Add,
    Call::Range,
    Call::Read,
    Call::Tail,
    Call::Len,
    Call::Delete,
    Call::Trim,
    Call::SetId,
    Call::Info,
    Call::GetRetention,
    Call::SetRetention,
    Call::CreateGroup,
    Call::SetGroupId,
    Call::DestroyGroup,
    Call::CreateConsumer,
    Call::DeleteConsumer,
    Call::SetPolicy,
    Call::ReadGroup,
    Call::Ack,
    Call::Nack,
    Call::Renew,
    Call::Pending,
    Call::Claim,
    Call::AutoClaim,
    Call::GroupsInfo,
    Call::Consumers,
    Call::Consume,
    Call::Drop,
];

macro_rules! named {
    ($module:ident) => {
        (
            Some(v1::$module::Key::Stream("s".into())),
            Some(v1::$module::GroupName::Group("g".into())),
        )
    };
}

impl Call {
    fn needs(self) -> &'static str {
        use Call::*;
        match self {
            Range | Read | Tail | Len | Info | GetRetention | GroupsInfo | Consumers => "read",
            Add | Delete | Trim | SetId => "write",
            ReadGroup | Ack | Nack | Renew | Pending | Claim | AutoClaim | Consume => "consume",
            SetRetention | CreateGroup | SetGroupId | DestroyGroup | CreateConsumer
            | DeleteConsumer | SetPolicy | Drop => "admin",
        }
    }

    async fn run(self, streams: &mut Streams, groups: &mut Groups) -> Result<(), tonic::Status> {
        match self.run_streams(streams).await {
            Some(outcome) => outcome,
            None => self.run_groups(groups).await,
        }
    }

    /// The Streams service's calls (`None` for the Groups service's).
    async fn run_streams(self, streams: &mut Streams) -> Option<Result<(), tonic::Status>> {
        let s = || "s".to_owned();
        Some(match self {
            Call::Add => streams
                .add(add_request("s", "*", &[("f", "v")]))
                .await
                .map(drop),
            Call::Range => streams.range(range_request("s", "-", "+")).await.map(drop),
            Call::Read => streams
                .read(v1::ReadRequest {
                    streams: vec![offset("s", "0")],
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::Tail => streams
                .tail(v1::TailRequest {
                    key: Some(v1::tail_request::Key::Stream(s())),
                    id: "0".into(),
                    batch: 0,
                })
                .await
                .map(drop),
            Call::Len => streams
                .len(v1::LenRequest { key: key("s") })
                .await
                .map(drop),
            Call::Delete => streams
                .delete(v1::DeleteRequest {
                    key: Some(v1::delete_request::Key::Stream(s())),
                    ids: vec!["0-1".into()],
                })
                .await
                .map(drop),
            Call::Trim => streams
                .trim(v1::TrimRequest {
                    key: Some(v1::trim_request::Key::Stream(s())),
                    trim: Some(v1::Trim {
                        threshold: Some(v1::trim::Threshold::Maxlen(1000)),
                        ..Default::default()
                    }),
                })
                .await
                .map(drop),
            Call::SetId => streams
                .set_id(v1::SetIdRequest {
                    key: Some(v1::set_id_request::Key::Stream(s())),
                    last_id: "99999999999999-0".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::Info => streams
                .info(v1::InfoRequest {
                    key: Some(v1::info_request::Key::Stream(s())),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::GetRetention => streams
                .get_retention(v1::GetRetentionRequest {
                    key: Some(v1::get_retention_request::Key::Stream(s())),
                })
                .await
                .map(drop),
            Call::SetRetention => streams
                .set_retention(v1::SetRetentionRequest {
                    key: Some(v1::set_retention_request::Key::Stream(s())),
                    policy: Some(v1::RetentionPolicy {
                        max_len: Some(1_000_000),
                        ..Default::default()
                    }),
                })
                .await
                .map(drop),
            Call::Drop => streams
                .drop(v1::DropRequest {
                    streams: vec![s()],
                    ..Default::default()
                })
                .await
                .map(drop),
            _ => return None,
        })
    }

    /// The Groups service's calls.
    async fn run_groups(self, groups: &mut Groups) -> Result<(), tonic::Status> {
        let consumer = || "c".to_owned();
        match self {
            Call::CreateGroup => {
                let (key, group_name) = named!(create_group_request);
                let group_name =
                    group_name.map(|_| v1::create_group_request::GroupName::Group("new".into()));
                let request = v1::CreateGroupRequest {
                    key,
                    group_name,
                    id: "0".into(),
                    ..Default::default()
                };
                groups.create(request).await.map(drop)
            }
            Call::SetGroupId => {
                let (key, group_name) = named!(set_group_id_request);
                let request = v1::SetGroupIdRequest {
                    key,
                    group_name,
                    id: "0".into(),
                    ..Default::default()
                };
                groups.set_id(request).await.map(drop)
            }
            Call::DestroyGroup => {
                let (key, _) = named!(destroy_group_request);
                let group_name = Some(v1::destroy_group_request::GroupName::Group("none".into()));
                groups
                    .destroy(v1::DestroyGroupRequest { key, group_name })
                    .await
                    .map(drop)
            }
            Call::CreateConsumer | Call::DeleteConsumer => {
                let (key, group_name) = named!(consumer_request);
                let consumer_name = Some(v1::consumer_request::ConsumerName::Consumer("x".into()));
                let request = v1::ConsumerRequest {
                    key,
                    group_name,
                    consumer_name,
                };
                match self {
                    Call::CreateConsumer => groups.create_consumer(request).await.map(drop),
                    _ => groups.delete_consumer(request).await.map(drop),
                }
            }
            Call::SetPolicy => {
                let (key, group_name) = named!(set_policy_request);
                let policy = Some(v1::GroupPolicy::default());
                groups
                    .set_policy(v1::SetPolicyRequest {
                        key,
                        group_name,
                        policy,
                    })
                    .await
                    .map(drop)
            }
            Call::ReadGroup => groups
                .read(v1::ReadGroupRequest {
                    group_name: Some(v1::read_group_request::GroupName::Group("g".into())),
                    consumer_name: Some(v1::read_group_request::ConsumerName::Consumer(consumer())),
                    streams: vec![v1::GroupStreamOffset {
                        key: Some(v1::group_stream_offset::Key::Stream("s".into())),
                        id: ">".into(),
                    }],
                    count: Some(1),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::Ack => {
                let (key, group_name) = named!(ack_request);
                let ids = vec!["0-1".into()];
                groups
                    .ack(v1::AckRequest {
                        key,
                        group_name,
                        ids,
                    })
                    .await
                    .map(drop)
            }
            Call::Nack => {
                let (key, group_name) = named!(nack_request);
                let consumer_name = Some(v1::nack_request::ConsumerName::Consumer(consumer()));
                let request = v1::NackRequest {
                    key,
                    group_name,
                    consumer_name,
                    ids: vec!["0-1".into()],
                    ..Default::default()
                };
                groups.nack(request).await.map(drop)
            }
            Call::Renew => {
                let (key, group_name) = named!(renew_request);
                let consumer_name = Some(v1::renew_request::ConsumerName::Consumer(consumer()));
                let request = v1::RenewRequest {
                    key,
                    group_name,
                    consumer_name,
                    ids: vec!["0-1".into()],
                };
                groups.renew(request).await.map(drop)
            }
            Call::Pending => {
                let (key, group_name) = named!(pending_request);
                let request = v1::PendingRequest {
                    key,
                    group_name,
                    ..Default::default()
                };
                groups.pending(request).await.map(drop)
            }
            Call::Claim => {
                let (key, group_name) = named!(claim_request);
                let consumer_name = Some(v1::claim_request::ConsumerName::Consumer(consumer()));
                let request = v1::ClaimRequest {
                    key,
                    group_name,
                    consumer_name,
                    min_idle_ms: 3_600_000,
                    ids: vec!["0-1".into()],
                    ..Default::default()
                };
                groups.claim(request).await.map(drop)
            }
            Call::AutoClaim => {
                let (key, group_name) = named!(auto_claim_request);
                let consumer_name =
                    Some(v1::auto_claim_request::ConsumerName::Consumer(consumer()));
                let request = v1::AutoClaimRequest {
                    key,
                    group_name,
                    consumer_name,
                    min_idle_ms: 3_600_000,
                    ..Default::default()
                };
                groups.auto_claim(request).await.map(drop)
            }
            Call::GroupsInfo => groups
                .info(v1::GroupsInfoRequest {
                    key: Some(v1::groups_info_request::Key::Stream("s".into())),
                })
                .await
                .map(drop),
            Call::Consumers => {
                let (key, group_name) = named!(consumers_request);
                groups
                    .consumers(v1::ConsumersRequest { key, group_name })
                    .await
                    .map(drop)
            }
            Call::Consume => {
                // A group that does not exist: an allowed caller gets NOGROUP (so no consumer
                // keeps running to change the store under the next calls), a refused one
                // PERMISSION_DENIED, which is checked first.
                let (key, _) = named!(consume_start);
                let group_name = Some(v1::consume_start::GroupName::Group("nog".into()));
                let consumer_name = Some(v1::consume_start::ConsumerName::Consumer(consumer()));
                let start = v1::ConsumeStart {
                    key,
                    group_name,
                    consumer_name,
                    window: 1,
                };
                let message = v1::ConsumeRequest {
                    message: Some(v1::consume_request::Message::Start(start)),
                };
                let outbound = tokio_stream::iter(vec![message]);
                groups.consume(outbound).await.map(drop)
            }
            other => panic!("{other:?} is not a Groups call"),
        }
    }
}

/// What the store holds, as `ops` sees it: the stream's length and its groups' state.
async fn snapshot(streams: &mut Streams, groups: &mut Groups) -> String {
    let len = streams
        .len(v1::LenRequest { key: key("s") })
        .await
        .expect("len");
    let info = groups
        .info(v1::GroupsInfoRequest {
            key: Some(v1::groups_info_request::Key::Stream("s".into())),
        })
        .await
        .expect("groups info");
    format!("{:?} {:?}", len.into_inner(), info.into_inner())
}

#[tokio::test]
async fn each_permission_allows_its_calls_and_refusals_change_nothing() {
    let dir = data_dir();
    let file = dir.path().join("users.toml");
    std::fs::write(&file, users_file("orders:*")).expect("write users");
    let server = start_with_users(&dir.path().join("data"), &file).await;

    let (mut ops_streams, mut ops_groups) = clients(&server, basic("ops", "ops-pw")).await;
    ops_streams
        .add(add_request("s", "*", &[("f", "v")]))
        .await
        .expect("ops adds");
    ops_groups
        .create(v1::CreateGroupRequest {
            key: Some(v1::create_group_request::Key::Stream("s".into())),
            group_name: Some(v1::create_group_request::GroupName::Group("g".into())),
            id: "$".into(),
            ..Default::default()
        })
        .await
        .expect("ops creates the group");

    for user in ["read", "write", "consume", "admin"] {
        let (mut streams, mut groups) = clients(&server, basic(user, user)).await;
        for call in CALLS {
            let before = snapshot(&mut ops_streams, &mut ops_groups).await;
            let outcome = call.run(&mut streams, &mut groups).await;
            if call.needs() == user {
                if let Err(status) = &outcome {
                    assert_ne!(status.code(), Code::PermissionDenied, "{user} {call:?}");
                }
            } else {
                let status = outcome.expect_err(&format!("{user} may not {call:?}"));
                assert_eq!(status.code(), Code::PermissionDenied, "{user} {call:?}");
                assert!(
                    status.message().contains(call.needs()) && status.message().contains("'s'"),
                    "{user} {call:?}: {}",
                    status.message()
                );
                let after = snapshot(&mut ops_streams, &mut ops_groups).await;
                assert_eq!(before, after, "{user} {call:?} changed the store");
            }
        }
    }
}

#[tokio::test]
async fn credentials_are_required_checked_and_logged_but_health_stays_open() {
    let dir = data_dir();
    let file = dir.path().join("users.toml");
    let token = sluice::server::users::new_token("tok").expect("token");
    let text = format!(
        "{}\n[users.tok]\ntokens = [\"{}\"]\nread = [\"orders:*\"]\n",
        users_file("orders:*"),
        hash_secret(token.as_bytes()).expect("hash")
    );
    std::fs::write(&file, text).expect("write users");
    let mut server = start_with_users(&dir.path().join("data"), &file).await;

    let (mut anonymous, _) = clients(&server, Authorization(None)).await;
    let refused = anonymous
        .len(v1::LenRequest {
            key: key("orders:1"),
        })
        .await;
    assert_eq!(
        refused.expect_err("no credentials").code(),
        Code::Unauthenticated
    );
    let (mut wrong, _) = clients(&server, basic("alice", "guess")).await;
    let refused = wrong
        .len(v1::LenRequest {
            key: key("orders:1"),
        })
        .await;
    assert_eq!(
        refused.expect_err("wrong password").code(),
        Code::Unauthenticated
    );
    let logged = server.wait_for_log("gRPC authentication failed").await;
    assert!(
        logged.contains("peer=127.0.0.1:") && logged.contains("alice"),
        "{logged}"
    );

    let health = tonic_health::pb::health_client::HealthClient::new(server.channel().await)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health without credentials");
    assert_eq!(health.into_inner().status, 1);

    let (mut alice, _) = clients(&server, basic("alice", "alice-pw")).await;
    alice
        .add(add_request("orders:1", "*", &[("f", "v")]))
        .await
        .expect("alice adds");
    alice
        .add(add_request("other", "*", &[("f", "v")]))
        .await
        .expect_err("not hers");
    let (mut ops, _) = clients(&server, basic("ops", "ops-pw")).await;
    ops.add(add_request("payments", "*", &[("f", "v")]))
        .await
        .expect("ops adds");

    let bearer = Authorization(Some(format!("Bearer {token}").parse().expect("ascii")));
    let (mut tok, _) = clients(&server, bearer).await;
    let listed = tok
        .list(v1::ListRequest {
            pattern: "*".into(),
        })
        .await
        .expect("list with a token")
        .into_inner();
    assert_eq!(
        listed.streams,
        vec!["orders:1".to_owned()],
        "only what tok may read"
    );
    let len = tok
        .len(v1::LenRequest {
            key: key("orders:1"),
        })
        .await
        .expect("len");
    assert_eq!(len.into_inner().length, 1);
    let denied = tok
        .len(v1::LenRequest {
            key: key("payments"),
        })
        .await;
    assert_eq!(
        denied.expect_err("not tok's").code(),
        Code::PermissionDenied
    );
    let forged = Authorization(Some(format!("Bearer {token}x").parse().expect("ascii")));
    let (mut forged, _) = clients(&server, forged).await;
    let refused = forged
        .len(v1::LenRequest {
            key: key("orders:1"),
        })
        .await;
    assert_eq!(
        refused.expect_err("forged token").code(),
        Code::Unauthenticated
    );

    // The CLI with credentials.
    let address = server.address.to_string();
    let cli = run_to_completion(
        "sluice cli with credentials",
        Command::new(env!("CARGO_BIN_EXE_sluice")).args([
            "cli", "--addr", &address, "--user", "alice", "--pass", "alice-pw", "XLEN", "orders:1",
        ]),
    )
    .await;
    assert_eq!(String::from_utf8_lossy(&cli.stdout), "(integer) 1\n");
}

async fn redis_cli(port: u16, script: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--no-raw"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-cli");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, script.as_bytes())
        .await
        .expect("write script");
    drop(stdin);
    let output = guard("redis-cli", child.wait_with_output())
        .await
        .expect("output");
    // Without the "(0.57s)" redis-cli prints after a slow command (hashing is slow in debug
    // builds).
    let timing = |line: &str| {
        line.strip_prefix('(')
            .and_then(|rest| rest.strip_suffix("s)"))
            .is_some_and(|seconds| seconds.parse::<f64>().is_ok())
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !timing(line))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[tokio::test]
async fn resp_says_noauth_wrongpass_noperm_and_a_reload_applies() {
    if !external(
        "users resp",
        "redis-cli",
        &["--version"],
        "apt-get install redis-tools",
    )
    .await
    {
        return;
    }
    let dir = data_dir();
    let file = dir.path().join("users.toml");
    std::fs::write(&file, users_file("orders:*")).expect("write users");
    let mut server = start_with_users(&dir.path().join("data"), &file).await;
    let port = server.resp_address.expect("RESP on").port();

    let before = redis_cli(port, "XLEN orders:1\nHELLO 3\nAUTH alice nope\nAUTH nope\n").await;
    assert_eq!(
        before,
        "(error) NOAUTH Authentication required.\n\
         (error) NOAUTH HELLO must be called with the client already authenticated, otherwise \
         the HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
         the RESP protocol version at the same time\n\
         (error) WRONGPASS invalid username-password pair or user is disabled.\n\
         (error) WRONGPASS invalid username-password pair or user is disabled.\n"
    );
    let noperm = "(error) NOPERM this user has no permissions to access one of the keys used \
                  as arguments\n";
    let alice = redis_cli(
        port,
        "AUTH alice alice-pw\nXADD orders:1 1-1 f v\nXADD payments 1-1 f v\nKEYS *\nFLUSHALL\n\
         DEL orders:1\nXLEN orders:1\n",
    )
    .await;
    assert_eq!(
        alice,
        format!(
            "OK\n\"1-1\"\n{noperm}1) \"orders:1\"\n(error) NOPERM this user has no permissions \
             to run the 'flushall' command\n{noperm}(integer) 1\n"
        )
    );
    // Server-wide commands need admin on every stream; DBSIZE counts what the user may read.
    // (redis-cli prints CLIENT LIST's reply raw, an error too.)
    let wide = redis_cli(
        port,
        "AUTH owner owner-pw\nCONFIG SET stream-node-max-entries 0\nCLIENT LIST\n\
         CLIENT UNBLOCK 1\nDBSIZE\nXADD orders 1-1 f v\nXGROUP CREATE orders g 0\n\
         XGROUP SETPOLICY orders g MAXDELIVERIES 3\nXGROUP SETPOLICY orders g LEASE 5\n",
    )
    .await;
    assert_eq!(
        wide,
        format!(
            "OK\n(error) NOPERM this user has no permissions to run the 'config|set' command\n\
             NOPERM this user has no permissions to run the 'client|list' command\n\
             (error) NOPERM this user has no permissions to run the 'client|unblock' command\n\
             (integer) 0\n\"1-1\"\nOK\n{noperm}OK\n"
        )
    );
    let hello = redis_cli(
        port,
        "HELLO 2 AUTH ops ops-pw\nXADD payments 1-1 f v\nKEYS *\n",
    )
    .await;
    // ops may read every stream: KEYS lists all three.
    let (_, keys) = hello.split_once("\"1-1\"\n").expect("XADD's reply");
    let mut listed: Vec<&str> = keys.lines().map(|line| &line[3..]).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        ["\"orders\"", "\"orders:1\"", "\"payments\""],
        "{hello}"
    );

    // Alice may write payments once the file says so and the server got SIGHUP.
    std::fs::write(&file, users_file("*")).expect("rewrite users");
    let pid = server.pid();
    // SAFETY: kill only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    server.wait_for_log("users reloaded").await;
    let after = redis_cli(port, "AUTH alice alice-pw\nXADD payments 2-1 f v\n").await;
    assert_eq!(after, "OK\n\"2-1\"\n");
    let (mut alice, _) = clients(&server, basic("alice", "alice-pw")).await;
    alice
        .add(add_request("payments", "3-1", &[("f", "v")]))
        .await
        .expect("reloaded");
}
