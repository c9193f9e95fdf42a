//! Tail: existing then live entries in batches, back-pressure from a slow subscriber, a stream
//! that appears and is then dropped, and the limit on subscribers.

use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

#[tokio::test]
async fn tail_sends_existing_then_live_entries() {
    let (_server, mut client) = start(&[("--tail-batch-max", "3")]).await;
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), &[("i", &id.to_string())]).await;
    }
    let mut from_start = open_tail(&mut client, "s", "0", 2).await;
    let mut only_new = open_tail(&mut client, "s", "", 0).await;
    let mut after_three = open_tail(&mut client, "s", "3", 100).await;
    assert_eq!(next_ids(&mut from_start).await, vec!["1-0", "2-0"]);
    assert_eq!(next_ids(&mut from_start).await, vec!["3-0", "4-0"]);
    assert_eq!(next_ids(&mut from_start).await, vec!["5-0"]);
    // A requested batch above tail_batch_max is lowered to it.
    assert_eq!(next_ids(&mut after_three).await, vec!["4-0", "5-0"]);

    add(&mut client, "s", "6", &[("i", "6")]).await;
    assert_eq!(next_ids(&mut from_start).await, vec!["6-0"]);
    assert_eq!(next_ids(&mut only_new).await, vec!["6-0"]);
    assert_eq!(next_ids(&mut after_three).await, vec!["6-0"]);

    let entries = (7..=11)
        .map(|id| new_entry(&id.to_string(), &[("i", &id.to_string())]))
        .collect();
    add_reply(&mut client, batch_request("s", entries)).await;
    let mut live = Vec::new();
    while live.len() < 5 {
        let batch = next_ids(&mut only_new).await;
        assert!(batch.len() <= 3, "{batch:?}");
        live.extend(batch);
    }
    assert_eq!(live, vec!["7-0", "8-0", "9-0", "10-0", "11-0"]);
}

#[tokio::test]
async fn a_slow_tail_subscriber_stops_the_reads_and_still_gets_everything() {
    let flags = [
        ("--tail-batch-max", "2"),
        ("--segment-bytes-max", "1048576"),
        ("--entry-bytes-max", "65536"),
    ];
    let (mut server, mut client) = start(&flags).await;
    // 4 MB: more than the client's HTTP/2 stream window (hyper's 2 MB) and the server's
    // send buffer, so the server must stop reading for this subscriber.
    let value = "v".repeat(20_000);
    let total = 200;
    for id in 1..=total {
        add(&mut client, "s", &id.to_string(), &[("f", &value)]).await;
    }
    let mut tail = open_tail(&mut client, "s", "0", 0).await;
    // Not reading: the server fills the subscriber's queue, then waits instead of reading on.
    server
        .wait_for_log("tail queue full; waiting for the subscriber")
        .await;
    let mut received = Vec::new();
    while received.len() < total {
        let batch = next_ids(&mut tail).await;
        assert!(batch.len() <= 2, "{batch:?}");
        received.extend(batch);
    }
    let expected: Vec<String> = (1..=total).map(|id| format!("{id}-0")).collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn tail_waits_for_a_missing_stream_and_ends_when_it_is_dropped() {
    let (_server, mut client) = start(&[]).await;
    let mut tail = open_tail(&mut client, "later", "", 0).await;
    add(&mut client, "later", "1-1", FV).await;
    assert_eq!(next_ids(&mut tail).await, vec!["1-1"]);

    assert_eq!(drop_streams(&mut client, drop_request(&["later"])).await, 1);
    let ended = guard("tail end", tail.next())
        .await
        .expect("a final status");
    assert_status(
        ended,
        Code::NotFound,
        "UNBLOCKED the stream key no longer exists",
    );
}

#[tokio::test]
async fn tail_subscribers_are_limited() {
    let (_server, mut client) = start(&[("--tail-subscribers-max", "1")]).await;
    assert_status(
        client.tail(tail_request("s", "bad", 0)).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_status(
        client.tail(tail_request("s", "+", 0)).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    let first = open_tail(&mut client, "s", "$", 0).await;
    assert_status(
        client.tail(tail_request("t", "$", 0)).await,
        Code::ResourceExhausted,
        "ERR 1 Tail subscriptions are already open (tail_subscribers_max)",
    );
    drop(first);
    guard("tail slot freed", async {
        loop {
            match client.tail(tail_request("t", "$", 0)).await {
                Ok(_) => break,
                Err(status) => {
                    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await;
}
