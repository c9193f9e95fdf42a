//! The configured limits: count_max on every reading RPC, and message_bytes_max on replies,
//! on Tail's messages and on requests.

use crate::helpers::*;
use crate::server_harness::*;
use tokio_stream::StreamExt;
use tonic::Code;

#[tokio::test]
async fn count_limits() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[("--count-max", "5")]).await;
    let mut client = server.client().await;
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), &[("f", "v")]).await;
    }
    let unbounded = range_request("s", "-", "+");
    assert_eq!(
        client
            .range(unbounded.clone())
            .await
            .unwrap()
            .into_inner()
            .entries
            .len(),
        5
    );
    add(&mut client, "s", "6", &[("f", "v")]).await;
    assert_status(
        client.range(unbounded.clone()).await,
        Code::ResourceExhausted,
        "ERR more than 5 entries match (count_max); use COUNT to read them in pages",
    );
    let mut counted = unbounded.clone();
    counted.count = Some(5);
    assert_eq!(
        client
            .range(counted.clone())
            .await
            .unwrap()
            .into_inner()
            .entries
            .len(),
        5
    );
    counted.count = Some(6);
    assert_status(
        client.range(counted).await,
        Code::ResourceExhausted,
        "ERR COUNT 6 exceeds the limit of 5 (count_max)",
    );
    assert_status(
        client
            .read(read_request(vec![offset("s", "0")], None, None))
            .await,
        Code::ResourceExhausted,
        "ERR more than 5 entries match (count_max); use COUNT to read them in pages",
    );
    let read = client
        .read(read_request(vec![offset("s", "0")], Some(2), None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&read.streams[0].entries), vec!["1-0", "2-0"]);
    assert_status(
        client
            .read(read_request(vec![offset("s", "0")], Some(6), None))
            .await,
        Code::ResourceExhausted,
        "ERR COUNT 6 exceeds the limit of 5 (count_max)",
    );
    assert_status(
        client.info(info_request("s", true, Some(0))).await,
        Code::ResourceExhausted,
        "ERR more than 5 entries match (count_max); use COUNT to read them in pages",
    );
    assert_status(
        client.info(info_request("s", true, Some(6))).await,
        Code::ResourceExhausted,
        "ERR COUNT 6 exceeds the limit of 5 (count_max)",
    );
}

#[tokio::test]
async fn message_size_limits() {
    let dir = data_dir();
    let server = Server::start(
        dir.path(),
        &[
            ("--message-bytes-max", "8192"),
            ("--stream-name-bytes-max", "64"),
        ],
    )
    .await;
    let mut client = server.client().await;
    let value = "v".repeat(1500);
    for id in 1..=10 {
        add(&mut client, "s", &id.to_string(), &[("f", &value)]).await;
    }
    let too_large = "ERR reply exceeds the limit of 8192 bytes; ask for fewer entries with COUNT";
    assert_status(
        client.range(range_request("s", "-", "+")).await,
        Code::ResourceExhausted,
        too_large,
    );
    let mut two = range_request("s", "-", "+");
    two.count = Some(2);
    assert_eq!(
        client.range(two).await.unwrap().into_inner().entries.len(),
        2
    );
    assert_status(
        client
            .read(read_request(vec![offset("s", "0")], None, None))
            .await,
        Code::ResourceExhausted,
        too_large,
    );
    // Shared budget: two streams whose entries fit one by one but not together.
    add(&mut client, "t", "1", &[("f", &"w".repeat(1800))]).await;
    add(&mut client, "t", "2", &[("f", &"w".repeat(1800))]).await;
    add(&mut client, "u", "1", &[("f", &"w".repeat(1800))]).await;
    add(&mut client, "u", "2", &[("f", &"w".repeat(1800))]).await;
    assert_status(
        client
            .read(read_request(
                vec![offset("t", "0"), offset("u", "0"), offset("t", "0")],
                None,
                None,
            ))
            .await,
        Code::ResourceExhausted,
        too_large,
    );
    assert_status(
        client.info(info_request("s", true, Some(0))).await,
        Code::ResourceExhausted,
        too_large,
    );

    // Tail splits the stream into messages that each fit.
    let mut tail = client
        .tail(tail_request("s", "0", 0))
        .await
        .unwrap()
        .into_inner();
    let mut received = Vec::new();
    while received.len() < 10 {
        let message = guard("tail message", tail.next())
            .await
            .expect("open")
            .expect("ok");
        assert!(!message.entries.is_empty());
        assert!(
            message.entries.len() < 10,
            "one message must not hold everything"
        );
        received.extend(ids(&message.entries));
    }
    assert_eq!(
        received,
        (1..=10).map(|id| format!("{id}-0")).collect::<Vec<_>>()
    );

    // A request above the limit is refused before any handler sees it.
    assert_status_contains(
        client
            .add(add_request("s", "*", &[("f", &"x".repeat(10_000))]))
            .await,
        Code::ResourceExhausted,
        "message length too large",
    );
}
