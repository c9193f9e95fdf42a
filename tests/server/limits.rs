//! The configured limits: count_max on every RPC that reads entries, and message_bytes_max on
//! replies, on Tail's messages and on requests.

use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

const TOO_MANY: &str = "ERR more than 5 entries match (count_max); use COUNT to read them in pages";
const COUNT_ABOVE_MAX: &str = "ERR COUNT 6 exceeds the limit of 5 (count_max)";
const TOO_LARGE: &str =
    "ERR reply exceeds the limit of 8192 bytes; ask for fewer entries with COUNT";

#[tokio::test]
async fn count_limits() {
    let (_server, mut client) = start(&[("--count-max", "5")]).await;
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), FV).await;
    }
    let unbounded = range_request("s", "-", "+");
    let all = range(&mut client, unbounded.clone()).await;
    assert_eq!(all.entries.len(), 5);
    add(&mut client, "s", "6", FV).await;
    assert_status(
        client.range(unbounded.clone()).await,
        Code::ResourceExhausted,
        TOO_MANY,
    );
    let five = range(&mut client, with_count(unbounded.clone(), 5)).await;
    assert_eq!(five.entries.len(), 5);
    assert_status(
        client.range(with_count(unbounded, 6)).await,
        Code::ResourceExhausted,
        COUNT_ABOVE_MAX,
    );

    let from_start = |count| read_request(&[("s", "0")], count, None);
    assert_status(
        client.read(from_start(None)).await,
        Code::ResourceExhausted,
        TOO_MANY,
    );
    let two = read(&mut client, from_start(Some(2))).await;
    assert_eq!(stream_ids(&two, 0), vec!["1-0", "2-0"]);
    assert_status(
        client.read(from_start(Some(6))).await,
        Code::ResourceExhausted,
        COUNT_ABOVE_MAX,
    );

    assert_status(
        client.info(info_request("s", true, Some(0))).await,
        Code::ResourceExhausted,
        TOO_MANY,
    );
    assert_status(
        client.info(info_request("s", true, Some(6))).await,
        Code::ResourceExhausted,
        COUNT_ABOVE_MAX,
    );
}

#[tokio::test]
async fn message_size_limits() {
    let flags = [
        ("--message-bytes-max", "8192"),
        ("--stream-name-bytes-max", "64"),
    ];
    let (_server, mut client) = start(&flags).await;
    let value = "v".repeat(1500);
    for id in 1..=10 {
        add(&mut client, "s", &id.to_string(), &[("f", &value)]).await;
    }
    assert_status(
        client.range(range_request("s", "-", "+")).await,
        Code::ResourceExhausted,
        TOO_LARGE,
    );
    let two = range(&mut client, with_count(range_request("s", "-", "+"), 2)).await;
    assert_eq!(two.entries.len(), 2);
    assert_status(
        client.read(read_request(&[("s", "0")], None, None)).await,
        Code::ResourceExhausted,
        TOO_LARGE,
    );
    // Shared budget: two streams whose entries fit one by one but not together.
    let wide = "w".repeat(1800);
    for (stream, id) in [("t", "1"), ("t", "2"), ("u", "1"), ("u", "2")] {
        add(&mut client, stream, id, &[("f", &wide)]).await;
    }
    let together = read_request(&[("t", "0"), ("u", "0"), ("t", "0")], None, None);
    assert_status(
        client.read(together).await,
        Code::ResourceExhausted,
        TOO_LARGE,
    );
    assert_status(
        client.info(info_request("s", true, Some(0))).await,
        Code::ResourceExhausted,
        TOO_LARGE,
    );

    // Tail splits the stream into messages that each fit.
    let mut tail = open_tail(&mut client, "s", "0", 0).await;
    let mut received = Vec::new();
    while received.len() < 10 {
        let message = next_message(&mut tail).await;
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
    let huge = "x".repeat(10_000);
    assert_status_contains(
        client.add(add_request("s", "*", &[("f", &huge)])).await,
        Code::ResourceExhausted,
        "message length too large",
    );
}
