//! The API from another language: `tests/python/client_test.py`, a Python client built on stubs
//! that grpcio-tools generates from `proto/`, run against the real server. It checks that the
//! proto compiles into a working client elsewhere than in Rust and that what the API promises
//! (text and bytes variants, Redis's IDs, statuses and error texts, Tail) holds for it; the
//! script's docstring lists the checks.
//!
//! The stubs are generated into a temporary directory on each run, never committed. Needs
//! `python3` with `grpcio` and `grpcio-tools` (`pip install grpcio grpcio-tools`); without
//! them the test is skipped with a loud warning, or fails under `SLUICE_REQUIRE_EXTERNAL=1`.

mod server_harness;

use std::path::Path;

use server_harness::*;
use tokio::process::Command;

const TEST: &str = "python_client";
const SCRIPT: &str = "tests/python/client_test.py";
const PROTO_ROOT: &str = "proto";
const PROTO_FILE: &str = "proto/sluice/v1/sluice.proto";

/// Whether `python3` can import what the test needs.
async fn python_grpc_installed() -> bool {
    let mut probe = Command::new("python3");
    probe.args(["-c", "import grpc, grpc_tools.protoc"]);
    match probe
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
    {
        Ok(status) => status.success(),
        Err(_) => false,
    }
}

fn show(output: &std::process::Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn python_client_against_the_real_server() {
    if !python_grpc_installed().await {
        skip_unless_required(
            TEST,
            "python3 cannot import grpc and grpc_tools",
            "pip install grpcio grpcio-tools",
        );
        return;
    }
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stubs = tempfile::tempdir().expect("temp dir");
    let stubs_path = stubs.path().display().to_string();
    let generated = run_to_completion(
        "generate the Python stubs",
        Command::new("python3")
            .current_dir(repository)
            .args(["-m", "grpc_tools.protoc", "-I", PROTO_ROOT])
            .arg(format!("--python_out={stubs_path}"))
            .arg(format!("--grpc_python_out={stubs_path}"))
            .arg(PROTO_FILE),
    )
    .await;
    assert!(
        generated.status.success(),
        "grpc_tools.protoc failed:\n{}",
        show(&generated)
    );

    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let address = server.address.to_string();
    let ran = run_to_completion(
        "the Python client",
        Command::new("python3")
            .current_dir(repository)
            .arg(SCRIPT)
            .args(["--address", &address, "--stubs", &stubs_path]),
    )
    .await;
    assert!(ran.status.success(), "{SCRIPT} failed:\n{}", show(&ran));
}
