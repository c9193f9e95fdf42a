//! Read: several streams at once, `$` and `+`, blocking reads woken by adds, and the limit
//! on blocked readers.

use crate::helpers::*;
use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

#[tokio::test]
async fn read_without_blocking() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    add(&mut client, "a", "1-1", &[("f", "a1")]).await;
    add(&mut client, "a", "1-2", &[("f", "a2")]).await;
    add(&mut client, "c", "3-1", &[("f", "c1")]).await;

    let reply = client
        .read(read_request(
            vec![offset("a", "0"), offset("b", "0"), offset("c", "0-0")],
            None,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let streams: Vec<(String, Vec<String>)> = reply
        .streams
        .iter()
        .map(|stream| (stream_key_text(stream), ids(&stream.entries)))
        .collect();
    assert_eq!(
        streams,
        vec![
            ("a".to_string(), vec!["1-1".to_string(), "1-2".to_string()]),
            ("c".to_string(), vec!["3-1".to_string()]),
        ]
    );

    let counted = client
        .read(read_request(
            vec![offset("a", "1-1"), offset("a", "0")],
            Some(1),
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        counted.streams.len(),
        2,
        "a stream named twice is read twice, as in Redis"
    );
    assert_eq!(ids(&counted.streams[0].entries), vec!["1-2"]);
    assert_eq!(ids(&counted.streams[1].entries), vec!["1-1"]);

    // XREAD's COUNT 0 is no COUNT at all.
    let uncounted = client
        .read(read_request(vec![offset("a", "0")], Some(0), None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&uncounted.streams[0].entries), vec!["1-1", "1-2"]);

    let dollar = client
        .read(read_request(vec![offset("a", "$")], None, None))
        .await
        .unwrap()
        .into_inner();
    assert!(dollar.streams.is_empty());

    let plus = client
        .read(read_request(
            vec![offset("a", "+"), offset("b", "+")],
            None,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plus.streams.len(), 1);
    assert_eq!(ids(&plus.streams[0].entries), vec!["1-2"]);
    // "+" is the last *entry*, even after the last-generated one is deleted (redis#13632).
    client
        .delete(v1::DeleteRequest {
            key: Some(v1::delete_request::Key::Stream("a".into())),
            ids: vec!["1-2".into()],
        })
        .await
        .unwrap();
    let plus = client
        .read(read_request(vec![offset("a", "+")], None, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&plus.streams[0].entries), vec!["1-1"]);

    assert_status(
        client.read(read_request(vec![], None, None)).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xread' command",
    );
    for bad in ["bad", "-", "", "1-*"] {
        assert_status(
            client
                .read(read_request(vec![offset("a", bad)], None, None))
                .await,
            Code::InvalidArgument,
            INVALID_ID,
        );
    }
}

#[tokio::test]
async fn read_block_times_out_empty() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    add(&mut client, "s", "1-1", &[("f", "v")]).await;
    let reply = guard(
        "read with block_ms",
        client.read(read_request(
            vec![offset("s", "$"), offset("missing", "$")],
            None,
            Some(50),
        )),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(reply.streams.is_empty());
    // With data at hand, block_ms does not wait.
    let reply = client
        .read(read_request(vec![offset("s", "0")], None, Some(0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&reply.streams[0].entries), vec!["1-1"]);
}

#[tokio::test]
async fn blocked_read_is_woken_by_add_and_dollar_is_resolved_once() {
    let dir = data_dir();
    let mut server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    add(&mut client, "s", "1-1", &[("f", "old")]).await;

    let mut reader = client.clone();
    let blocked = tokio::spawn(async move {
        reader
            .read(read_request(
                vec![offset("s", "$"), offset("other", "$")],
                None,
                Some(0),
            ))
            .await
    });
    server.wait_for_log("read blocked").await;
    add(&mut client, "s", "2-1", &[("f", "new")]).await;
    let reply = guard("woken read", blocked)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(reply.streams.len(), 1);
    assert_eq!(stream_key_text(&reply.streams[0]), "s");
    assert_eq!(ids(&reply.streams[0].entries), vec!["2-1"]);
    assert_eq!(value_text(&reply.streams[0].entries[0].fields[0]), "new");

    // "$" on a missing stream is 0-0: the entry that creates the stream wakes the reader.
    let mut reader = client.clone();
    let blocked = tokio::spawn(async move {
        reader
            .read(read_request(vec![offset("fresh", "$")], None, Some(0)))
            .await
    });
    server.wait_for_log("read blocked").await;
    add(&mut client, "fresh", "1-1", &[("f", "first")]).await;
    let reply = guard("woken read", blocked)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(ids(&reply.streams[0].entries), vec!["1-1"]);

    // Changes that add nothing after the reader's ID keep it waiting. (The largest block_ms
    // is as good as forever.)
    let mut reader = client.clone();
    let blocked = tokio::spawn(async move {
        reader
            .read(read_request(vec![offset("s", "$")], None, Some(u64::MAX)))
            .await
    });
    server.wait_for_log("read blocked").await;
    client
        .delete(v1::DeleteRequest {
            key: Some(v1::delete_request::Key::Stream("s".into())),
            ids: vec!["1-1".into()],
        })
        .await
        .unwrap();
    add(&mut client, "s", "3-1", &[("f", "after")]).await;
    let reply = guard("woken read", blocked)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(ids(&reply.streams[0].entries), vec!["3-1"]);
}

#[tokio::test]
async fn blocked_readers_are_limited_and_cancelling_frees_the_slot() {
    let dir = data_dir();
    let mut server = Server::start(dir.path(), &[("--blocked-readers-max", "1")]).await;
    let mut client = server.client().await;
    add(&mut client, "data", "1-1", &[("f", "v")]).await;

    let mut reader = client.clone();
    let first = tokio::spawn(async move {
        reader
            .read(read_request(vec![offset("s", "$")], None, Some(0)))
            .await
    });
    server.wait_for_log("read blocked").await;
    let full = "ERR 1 Read calls are already blocked (blocked_readers_max); retry later or without block_ms";
    assert_status(
        client
            .read(read_request(vec![offset("t", "$")], None, Some(0)))
            .await,
        Code::ResourceExhausted,
        full,
    );
    // Reads that need not wait take no slot.
    let reply = client
        .read(read_request(vec![offset("data", "0")], None, Some(0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.streams.len(), 1);
    let reply = client
        .read(read_request(vec![offset("t", "$")], None, None))
        .await
        .unwrap();
    assert!(reply.into_inner().streams.is_empty());

    // The client gives up: its slot comes back once the server sees the cancellation.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    guard("slot freed", async {
        loop {
            match client
                .read(read_request(vec![offset("t", "$")], None, Some(1)))
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
