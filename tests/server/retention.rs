//! Retention policies end to end: SetRetention / GetRetention and their refusals, Info's
//! `retention` (absent without a policy), XRETENTION over RESP (redis-cli) and through
//! `sluice cli`, XINFO STREAM's `retention-*` fields, and a server whose background passes
//! shrink a stream by themselves.
//!
//! The test servers' segments are 4096 bytes; entries of ~1 KB put three in a segment.

use tonic::Code;

use sluice::proto::v1;

use crate::helpers::*;
use crate::server_harness::*;

fn set_request(stream: &str, policy: Option<v1::RetentionPolicy>) -> v1::SetRetentionRequest {
    v1::SetRetentionRequest {
        key: Some(v1::set_retention_request::Key::Stream(stream.into())),
        policy,
    }
}

fn get_request(stream: &str) -> v1::GetRetentionRequest {
    v1::GetRetentionRequest {
        key: Some(v1::get_retention_request::Key::Stream(stream.into())),
    }
}

/// Adds `count` entries of about 1 KB to `stream`.
async fn fill(client: &mut Client, stream: &str, count: usize) {
    let value = "x".repeat(1000);
    for _ in 0..count {
        add(client, stream, "*", &[("v", &value)]).await;
    }
}

#[tokio::test]
async fn set_get_clear_and_refusals_over_grpc() {
    let (_server, mut client) = start(&[("--retention-interval-ms", "0")]).await;
    assert_status(
        client.set_retention(set_request("s", None)).await,
        Code::NotFound,
        NO_SUCH_KEY,
    );
    assert_status(
        client.get_retention(get_request("s")).await,
        Code::NotFound,
        NO_SUCH_KEY,
    );
    add(&mut client, "s", "1-0", FV).await;
    let none = client.get_retention(get_request("s")).await.unwrap();
    assert_eq!(none.into_inner(), v1::GetRetentionResponse::default());
    assert!(info(&mut client, "s", false, None)
        .await
        .retention
        .is_none());

    let policy = v1::RetentionPolicy {
        max_age_ms: Some(86_400_000),
        max_bytes: None,
        max_len: Some(1000),
        keep_unprocessed: true,
    };
    client
        .set_retention(set_request("s", Some(policy)))
        .await
        .unwrap();
    let got = client
        .get_retention(get_request("s"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.policy, Some(policy));
    assert_eq!(got.status, Some(v1::RetentionStatus::default()));
    assert_eq!(
        info(&mut client, "s", false, None).await.retention,
        Some(policy)
    );
    assert_eq!(
        info(&mut client, "s", true, None).await.retention,
        Some(policy)
    );

    for (bad, why) in [
        (
            v1::RetentionPolicy {
                max_len: Some(0),
                ..v1::RetentionPolicy::default()
            },
            "ERR invalid retention policy: MAXLEN must be at least 1",
        ),
        (
            v1::RetentionPolicy {
                max_age_ms: Some(0),
                ..v1::RetentionPolicy::default()
            },
            "ERR invalid retention policy: MAXAGE must be at least 1 ms",
        ),
        (
            v1::RetentionPolicy {
                keep_unprocessed: true,
                ..v1::RetentionPolicy::default()
            },
            "ERR invalid retention policy: KEEPUNPROCESSED needs a limit (MAXAGE, MAXBYTES or MAXLEN)",
        ),
    ] {
        assert_status(
            client.set_retention(set_request("s", Some(bad))).await,
            Code::InvalidArgument,
            why,
        );
    }
    // A refused policy leaves the old one in place; an empty one clears it.
    assert_eq!(
        client
            .get_retention(get_request("s"))
            .await
            .unwrap()
            .into_inner()
            .policy,
        Some(policy)
    );
    client
        .set_retention(set_request("s", Some(v1::RetentionPolicy::default())))
        .await
        .unwrap();
    assert!(info(&mut client, "s", false, None)
        .await
        .retention
        .is_none());
}

#[tokio::test]
async fn a_server_enforces_in_the_background() {
    let (_server, mut client) = start(&[("--retention-interval-ms", "20")]).await;
    fill(&mut client, "s", 30).await;
    let before = info(&mut client, "s", false, None).await;
    assert!(before.radix_tree_keys >= 5, "{before:?}");
    client
        .set_retention(set_request(
            "s",
            Some(v1::RetentionPolicy {
                max_len: Some(5),
                ..v1::RetentionPolicy::default()
            }),
        ))
        .await
        .unwrap();
    // Three entries a segment: the background passes leave 5 to 7 entries (the active
    // segment and what keeps the length at 5 or more), without any client trimming.
    guard("the background passes", async {
        while len(&mut client, "s").await > 7 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    let after = info(&mut client, "s", false, None).await;
    assert!(after.length >= 5, "{after:?}");
    assert_eq!(after.entries_added, 30);
    let status = client
        .get_retention(get_request("s"))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert_eq!(status.removed_entries, 30 - after.length);
    assert_eq!(status.held_segments, 0);
}

/// Runs `program` with `arguments` and returns its stdout.
async fn output(program: &str, arguments: &[String]) -> String {
    let mut command = tokio::process::Command::new(program);
    command.args(arguments).env_remove("SLUICE_ADDR");
    let output = run_to_completion(program, &mut command).await;
    assert!(
        output.status.success(),
        "{program} {arguments:?}: {output:?}"
    );
    String::from_utf8(output.stdout).expect("text output")
}

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

#[tokio::test]
async fn xretention_over_resp_and_through_sluice_cli() {
    let (server, mut client) = start(&[("--retention-interval-ms", "0")]).await;
    add(&mut client, "s", "1-0", FV).await;
    let resp_port = server.resp_address.expect("RESP is on").port().to_string();
    let cli_address = server.address.to_string();
    let sluice = env!("CARGO_BIN_EXE_sluice");
    let has_redis_cli = std::process::Command::new("redis-cli")
        .arg("--version")
        .output()
        .is_ok();
    if !has_redis_cli {
        skip_unless_required(
            "xretention_over_resp_and_through_sluice_cli (RESP part)",
            "redis-cli is not installed",
            "install redis-tools",
        );
    }
    // Each front end: (program, arguments before the command).
    let mut front_ends = vec![(
        sluice.to_owned(),
        vec!["cli".into(), "--addr".into(), cli_address],
    )];
    if has_redis_cli {
        front_ends.push((
            "redis-cli".to_owned(),
            vec!["-p".into(), resp_port, "--no-raw".into()],
        ));
    }
    for (program, prefix) in front_ends {
        let run = |command: &str| {
            let arguments = [prefix.clone(), words(command)].concat();
            let program = program.clone();
            async move { output(&program, &arguments).await }
        };
        assert_eq!(run("XRETENTION s CLEAR").await, "OK\n", "{program}");
        assert_eq!(
            run("XRETENTION s GET").await,
            "(empty array)\n",
            "{program}"
        );
        let plain = run("XINFO STREAM s").await;
        assert!(!plain.contains("retention"), "{program}: {plain}");
        assert_eq!(
            run("XRETENTION s SET MAXLEN 5 MAXAGE 60000 KEEPUNPROCESSED").await,
            "OK\n",
            "{program}"
        );
        assert_eq!(
            run("XRETENTION s GET").await,
            " 1) \"max-age-ms\"\n 2) (integer) 60000\n 3) \"max-bytes\"\n 4) (nil)\n \
             5) \"max-len\"\n 6) (integer) 5\n 7) \"keep-unprocessed\"\n 8) (integer) 1\n \
             9) \"held-entries\"\n10) (integer) 0\n11) \"held-bytes\"\n12) (integer) 0\n\
             13) \"held-segments\"\n14) (integer) 0\n15) \"removed-entries\"\n16) (integer) 0\n\
             17) \"removed-bytes\"\n18) (integer) 0\n19) \"removed-segments\"\n20) (integer) 0\n",
            "{program}"
        );
        let with = run("XINFO STREAM s").await;
        assert!(
            with.starts_with(&plain)
                && with.ends_with(
                    "21) \"retention-max-age-ms\"\n22) (integer) 60000\n\
                     23) \"retention-max-bytes\"\n24) (nil)\n25) \"retention-max-len\"\n\
                     26) (integer) 5\n27) \"retention-keep-unprocessed\"\n28) (integer) 1\n"
                ),
            "{program}: {with}"
        );
        assert_eq!(
            run("XRETENTION s SET MAXLEN 0").await,
            "(error) ERR invalid retention policy: MAXLEN must be at least 1\n",
            "{program}"
        );
        assert_eq!(
            run("XRETENTION nope GET").await,
            "(error) ERR no such key\n",
            "{program}"
        );
        assert_eq!(
            run("XRETENTION s SET").await,
            "(error) ERR syntax error\n",
            "{program}"
        );
        assert_eq!(run("XRETENTION s CLEAR").await, "OK\n", "{program}");
    }
}
