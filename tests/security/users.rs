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
         admin = [\"*\"]\n",
        hash("ops-pw")
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

/// The calls of the matrix, each needing one permission on stream `s`.
#[derive(Debug, Clone, Copy)]
enum Call {
    Add,
    Range,
    Len,
    Trim,
    CreateGroup,
    DestroyGroup,
    ReadGroup,
    Ack,
    Pending,
    Drop,
}

impl Call {
    fn needs(self) -> &'static str {
        match self {
            Call::Range | Call::Len => "read",
            Call::Add | Call::Trim => "write",
            Call::ReadGroup | Call::Ack | Call::Pending => "consume",
            Call::CreateGroup | Call::DestroyGroup | Call::Drop => "admin",
        }
    }

    async fn run(self, streams: &mut Streams, groups: &mut Groups) -> Result<(), tonic::Status> {
        let s = || "s".to_owned();
        match self {
            Call::Add => streams
                .add(add_request("s", "*", &[("f", "v")]))
                .await
                .map(drop),
            Call::Range => streams.range(range_request("s", "-", "+")).await.map(drop),
            Call::Len => streams
                .len(v1::LenRequest { key: key("s") })
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
            Call::CreateGroup => groups
                .create(v1::CreateGroupRequest {
                    key: Some(v1::create_group_request::Key::Stream(s())),
                    group_name: Some(v1::create_group_request::GroupName::Group("new".into())),
                    id: "0".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::DestroyGroup => groups
                .destroy(v1::DestroyGroupRequest {
                    key: Some(v1::destroy_group_request::Key::Stream(s())),
                    group_name: Some(v1::destroy_group_request::GroupName::Group("none".into())),
                })
                .await
                .map(drop),
            Call::ReadGroup => groups
                .read(v1::ReadGroupRequest {
                    group_name: Some(v1::read_group_request::GroupName::Group("g".into())),
                    consumer_name: Some(v1::read_group_request::ConsumerName::Consumer("c".into())),
                    streams: vec![v1::GroupStreamOffset {
                        key: Some(v1::group_stream_offset::Key::Stream(s())),
                        id: ">".into(),
                    }],
                    count: Some(1),
                    ..Default::default()
                })
                .await
                .map(drop),
            Call::Ack => groups
                .ack(v1::AckRequest {
                    key: Some(v1::ack_request::Key::Stream(s())),
                    group_name: Some(v1::ack_request::GroupName::Group("g".into())),
                    ids: vec!["0-1".into()],
                })
                .await
                .map(drop),
            Call::Pending => groups
                .pending(v1::PendingRequest {
                    key: Some(v1::pending_request::Key::Stream(s())),
                    group_name: Some(v1::pending_request::GroupName::Group("g".into())),
                    ..Default::default()
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

    let calls = [
        Call::Add,
        Call::Range,
        Call::Len,
        Call::Trim,
        Call::CreateGroup,
        Call::DestroyGroup,
        Call::ReadGroup,
        Call::Ack,
        Call::Pending,
        Call::Drop,
    ];
    for user in ["read", "write", "consume", "admin"] {
        let (mut streams, mut groups) = clients(&server, basic(user, user)).await;
        for call in calls {
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
    String::from_utf8_lossy(&output.stdout).into_owned()
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
    let hello = redis_cli(
        port,
        "HELLO 2 AUTH ops ops-pw\nXADD payments 1-1 f v\nKEYS *\n",
    )
    .await;
    assert!(
        hello.ends_with("\"1-1\"\n1) \"orders:1\"\n2) \"payments\"\n")
            || hello.ends_with("\"1-1\"\n1) \"payments\"\n2) \"orders:1\"\n"),
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
