//! Read: several streams at once, `$` and `+`, refusals, blocking reads woken by adds, and the
//! limit on blocked readers.

use sluice::proto::v1;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

/// A Read that does not block.
async fn read_now(
    client: &mut Client,
    offsets: &[(&str, &str)],
    count: Option<u64>,
) -> v1::ReadResponse {
    read(client, read_request(offsets, count, None)).await
}

/// Each stream of a Read's reply with the IDs of its entries.
fn streams_and_ids(reply: &v1::ReadResponse) -> Vec<(String, Vec<String>)> {
    reply
        .streams
        .iter()
        .map(|stream| (stream_key_text(stream), ids(&stream.entries)))
        .collect()
}

#[tokio::test]
async fn read_without_blocking() {
    let (_server, mut client) = start(&[]).await;
    add(&mut client, "a", "1-1", &[("f", "a1")]).await;
    add(&mut client, "a", "1-2", &[("f", "a2")]).await;
    add(&mut client, "c", "3-1", &[("f", "c1")]).await;

    let reply = read_now(&mut client, &[("a", "0"), ("b", "0"), ("c", "0-0")], None).await;
    assert_eq!(
        streams_and_ids(&reply),
        vec![
            ("a".to_string(), vec!["1-1".to_string(), "1-2".to_string()]),
            ("c".to_string(), vec!["3-1".to_string()]),
        ]
    );

    let counted = read_now(&mut client, &[("a", "1-1"), ("a", "0")], Some(1)).await;
    assert_eq!(
        counted.streams.len(),
        2,
        "a stream named twice is read twice, as in Redis"
    );
    assert_eq!(stream_ids(&counted, 0), vec!["1-2"]);
    assert_eq!(stream_ids(&counted, 1), vec!["1-1"]);

    // XREAD's COUNT 0 is no COUNT at all.
    let uncounted = read_now(&mut client, &[("a", "0")], Some(0)).await;
    assert_eq!(stream_ids(&uncounted, 0), vec!["1-1", "1-2"]);

    let dollar = read_now(&mut client, &[("a", "$")], None).await;
    assert!(dollar.streams.is_empty());

    let plus = read_now(&mut client, &[("a", "+"), ("b", "+")], None).await;
    assert_eq!(plus.streams.len(), 1);
    assert_eq!(stream_ids(&plus, 0), vec!["1-2"]);
    // "+" is the last *entry*, even after the last-generated one is deleted (redis#13632).
    delete(&mut client, "a", &["1-2"]).await;
    let plus = read_now(&mut client, &[("a", "+")], None).await;
    assert_eq!(stream_ids(&plus, 0), vec!["1-1"]);

    assert_status(
        client.read(read_request(&[], None, None)).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xread' command",
    );
    for bad in ["bad", "-", "", "1-*"] {
        assert_status(
            client.read(read_request(&[("a", bad)], None, None)).await,
            Code::InvalidArgument,
            INVALID_ID,
        );
    }
}

#[tokio::test]
async fn read_block_times_out_empty() {
    let (_server, mut client) = start(&[]).await;
    add(&mut client, "s", "1-1", FV).await;
    let both_new = read_request(&[("s", "$"), ("missing", "$")], None, Some(50));
    let reply = guard("read with block_ms", client.read(both_new))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.streams.is_empty());
    // With data at hand, block_ms does not wait.
    let reply = read(&mut client, read_request(&[("s", "0")], None, Some(0))).await;
    assert_eq!(stream_ids(&reply, 0), vec!["1-1"]);
}

#[tokio::test]
async fn blocked_read_is_woken_by_add_and_dollar_is_resolved_once() {
    let (mut server, mut client) = start(&[]).await;
    add(&mut client, "s", "1-1", &[("f", "old")]).await;

    let request = read_request(&[("s", "$"), ("other", "$")], None, Some(0));
    let blocked = spawn_read(&client, request);
    server.wait_for_log("read blocked").await;
    add(&mut client, "s", "2-1", &[("f", "new")]).await;
    let reply = woken(blocked).await;
    assert_eq!(reply.streams.len(), 1);
    assert_eq!(stream_key_text(&reply.streams[0]), "s");
    assert_eq!(stream_ids(&reply, 0), vec!["2-1"]);
    assert_eq!(value_text(&reply.streams[0].entries[0].fields[0]), "new");

    // "$" on a missing stream is 0-0: the entry that creates the stream wakes the reader.
    let blocked = spawn_read(&client, read_request(&[("fresh", "$")], None, Some(0)));
    server.wait_for_log("read blocked").await;
    add(&mut client, "fresh", "1-1", &[("f", "first")]).await;
    assert_eq!(stream_ids(&woken(blocked).await, 0), vec!["1-1"]);

    // Changes that add nothing after the reader's ID keep it waiting. (The largest block_ms
    // is as good as forever.)
    let forever = read_request(&[("s", "$")], None, Some(u64::MAX));
    let blocked = spawn_read(&client, forever);
    server.wait_for_log("read blocked").await;
    delete(&mut client, "s", &["1-1"]).await;
    add(&mut client, "s", "3-1", &[("f", "after")]).await;
    assert_eq!(stream_ids(&woken(blocked).await, 0), vec!["3-1"]);
}

#[tokio::test]
async fn blocked_readers_are_limited_and_cancelling_frees_the_slot() {
    let (mut server, mut client) = start(&[("--blocked-readers-max", "1")]).await;
    add(&mut client, "data", "1-1", FV).await;

    let first = spawn_read(&client, read_request(&[("s", "$")], None, Some(0)));
    server.wait_for_log("read blocked").await;
    let full = "ERR 1 Read calls are already blocked (blocked_readers_max); retry later or without block_ms";
    assert_status(
        client
            .read(read_request(&[("t", "$")], None, Some(0)))
            .await,
        Code::ResourceExhausted,
        full,
    );
    // Reads that need not wait take no slot.
    let reply = read(&mut client, read_request(&[("data", "0")], None, Some(0))).await;
    assert_eq!(reply.streams.len(), 1);
    assert!(read_now(&mut client, &[("t", "$")], None)
        .await
        .streams
        .is_empty());

    // The client gives up: its slot comes back once the server sees the cancellation.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    guard("slot freed", async {
        loop {
            match client
                .read(read_request(&[("t", "$")], None, Some(1)))
                .await
            {
                Ok(reply) => {
                    assert!(reply.into_inner().streams.is_empty());
                    break;
                }
                Err(status) => {
                    assert_eq!(
                        (status.code(), status.message()),
                        (Code::ResourceExhausted, full)
                    );
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await;
}
