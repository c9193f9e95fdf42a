//! End-to-end tests of every Streams RPC against the real `sluice serve` binary: happy paths,
//! every refusal with its status code and (Redis's) exact text, binary safety, blocking reads,
//! Tail and the configured limits. Redis texts were checked against redis-server 7.0.15.

mod server_harness;

use server_harness::*;
use sluice::proto::v1;
use tokio_stream::StreamExt;
use tonic::Code;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const TOP_ITEM: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

fn len_request(stream: &str) -> v1::LenRequest {
    v1::LenRequest {
        key: Some(v1::len_request::Key::Stream(stream.into())),
    }
}

fn info_request(stream: &str, full: bool, count: Option<u64>) -> v1::InfoRequest {
    v1::InfoRequest {
        key: Some(v1::info_request::Key::Stream(stream.into())),
        full,
        count,
    }
}

fn tail_request(stream: &str, id: &str, batch: u64) -> v1::TailRequest {
    v1::TailRequest {
        key: Some(v1::tail_request::Key::Stream(stream.into())),
        id: id.into(),
        batch,
    }
}

fn read_request(
    offsets: Vec<v1::StreamOffset>,
    count: Option<u64>,
    block_ms: Option<u64>,
) -> v1::ReadRequest {
    v1::ReadRequest {
        streams: offsets,
        count,
        block_ms,
    }
}

/// The IDs of a Tail's next message.
async fn next_ids(tail: &mut tonic::Streaming<v1::TailResponse>) -> Vec<String> {
    let message = guard("tail message", tail.next()).await;
    ids(&message
        .expect("the stream is open")
        .expect("a message")
        .entries)
}

fn stream_key_text(streams: &v1::StreamEntries) -> String {
    match &streams.key {
        Some(v1::stream_entries::Key::Stream(name)) => name.clone(),
        other => panic!("expected a text stream name, got {other:?}"),
    }
}

fn value_text(field: &v1::Field) -> &str {
    match &field.field_value {
        Some(v1::field::FieldValue::Value(text)) => text,
        other => panic!("expected a text value, got {other:?}"),
    }
}

#[tokio::test]
async fn add_then_range_in_both_directions() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;

    let added = client
        .add(add_request("s", "1-1", &[("f", "v")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (added.id.as_str(), added.ids),
        ("1-1", vec!["1-1".to_string()])
    );
    assert_eq!(add(&mut client, "s", "1-*", &[("f", "v")]).await, "1-2");
    assert_eq!(add(&mut client, "s", "2", &[("f", "v")]).await, "2-0");
    let batch = client
        .add(v1::AddRequest {
            key: Some(v1::add_request::Key::Stream("s".into())),
            entries: vec![
                v1::NewEntry {
                    id: "3-1".into(),
                    fields: vec![field("a", "1")],
                },
                v1::NewEntry {
                    id: "3-*".into(),
                    fields: vec![field("b", "2")],
                },
                v1::NewEntry {
                    id: "4".into(),
                    fields: vec![field("c", "3"), field("d", "4")],
                },
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.ids, vec!["3-1", "3-2", "4-0"]);
    assert_eq!(batch.id, "4-0");
    // "*" (the default when empty) is now in milliseconds: far above 4-0.
    let auto = add(&mut client, "s", "", &[("f", "v")]).await;
    let auto_ms: u64 = auto.split('-').next().unwrap().parse().unwrap();
    assert!(auto_ms > 1_000_000_000_000, "{auto}");

    let all = range_all(&mut client, "s").await;
    assert_eq!(
        ids(&all),
        vec!["1-1", "1-2", "2-0", "3-1", "3-2", "4-0", auto.as_str()]
    );
    assert_eq!(all[5].fields, vec![field("c", "3"), field("d", "4")]);

    let mut reverse = range_request("s", "", "");
    reverse.reverse = true;
    reverse.count = Some(3);
    let newest = client.range(reverse).await.unwrap().into_inner();
    assert_eq!(ids(&newest.entries), vec![auto.as_str(), "4-0", "3-2"]);
    assert!(newest.exists);

    let exclusive = client
        .range(range_request("s", "(1-2", "3"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&exclusive.entries), vec!["2-0", "3-1", "3-2"]);
    let mut reverse_bounded = range_request("s", "2", "(4-0");
    reverse_bounded.reverse = true;
    let reversed = client.range(reverse_bounded).await.unwrap().into_inner();
    assert_eq!(ids(&reversed.entries), vec!["3-2", "3-1", "2-0"]);
}

#[tokio::test]
async fn range_reports_whether_the_stream_exists() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    add(&mut client, "s", "1-1", &[("f", "v")]).await;

    let mut count_zero = range_request("s", "-", "+");
    count_zero.count = Some(0);
    let reply = client.range(count_zero.clone()).await.unwrap().into_inner();
    assert!(reply.entries.is_empty());
    assert!(reply.exists);

    count_zero.key = Some(v1::range_request::Key::Stream("missing".into()));
    let reply = client.range(count_zero).await.unwrap().into_inner();
    assert!(reply.entries.is_empty());
    assert!(!reply.exists);

    let reply = client
        .range(range_request("s", "5", "+"))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.entries.is_empty());
    assert!(reply.exists);
}

#[tokio::test]
async fn range_refusals() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    assert_status(
        client
            .range(range_request(
                "s",
                "(18446744073709551615-18446744073709551615",
                "+",
            ))
            .await,
        Code::InvalidArgument,
        "ERR invalid start ID for the interval",
    );
    assert_status(
        client.range(range_request("s", "-", "(0-0")).await,
        Code::InvalidArgument,
        "ERR invalid end ID for the interval",
    );
    assert_status(
        client.range(range_request("s", "x", "+")).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_status(
        client.range(range_request("s", "(", "+")).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_status(
        client.range(v1::RangeRequest::default()).await,
        Code::InvalidArgument,
        "ERR stream name is required: set stream or stream_bytes",
    );
}

#[tokio::test]
async fn many_entries_cross_segment_boundaries() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let value = "x".repeat(100);
    for index in 0..200 {
        add(
            &mut client,
            "s",
            &format!("{}-0", index + 1),
            &[("i", &index.to_string()), ("pad", &value)],
        )
        .await;
    }
    let all = range_all(&mut client, "s").await;
    assert_eq!(all.len(), 200);
    for (index, entry) in all.iter().enumerate() {
        assert_eq!(entry.id, format!("{}-0", index + 1));
        assert_eq!(value_text(&entry.fields[0]), index.to_string());
    }
    let info = client
        .info(info_request("s", false, None))
        .await
        .unwrap()
        .into_inner();
    assert!(
        info.radix_tree_keys > 1,
        "segments: {}",
        info.radix_tree_keys
    );
    let middle = client
        .range(range_request("s", "150", "152"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&middle.entries), vec!["150-0", "151-0", "152-0"]);
}

#[tokio::test]
async fn add_refusals_carry_redis_texts() {
    let dir = data_dir();
    let server = Server::start(
        dir.path(),
        &[
            ("--batch-entries-max", "3"),
            ("--stream-name-bytes-max", "16"),
        ],
    )
    .await;
    let mut client = server.client().await;
    add(&mut client, "s", "5-5", &[("f", "v")]).await;

    let mut no_key = add_request("s", "*", &[("f", "v")]);
    no_key.key = None;
    assert_status(
        client.add(no_key).await,
        Code::InvalidArgument,
        "ERR stream name is required: set stream or stream_bytes",
    );
    assert_status(
        client.add(add_request("s", "6-0", &[])).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xadd' command",
    );
    assert_status(
        client.add(add_request("s", "bad", &[("f", "v")])).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_status(
        client.add(add_request("s", "0-0", &[("f", "v")])).await,
        Code::InvalidArgument,
        "ERR The ID specified in XADD must be greater than 0-0",
    );
    assert_status(
        client.add(add_request("s", "5-5", &[("f", "v")])).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    assert_status(
        client.add(add_request("s", "4-*", &[("f", "v")])).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    let mut both = add_request("s", "9-0", &[("f", "v")]);
    both.entries = vec![v1::NewEntry {
        id: "10-0".into(),
        fields: vec![field("f", "v")],
    }];
    assert_status(
        client.add(both).await,
        Code::InvalidArgument,
        "ERR use either id and fields (one entry) or entries (a batch), not both",
    );
    let batch = |entries: Vec<v1::NewEntry>| v1::AddRequest {
        key: Some(v1::add_request::Key::Stream("s".into())),
        entries,
        ..Default::default()
    };
    let entry = |id: &str| v1::NewEntry {
        id: id.into(),
        fields: vec![field("f", "v")],
    };
    assert_status(
        client
            .add(batch(vec![entry("6"), entry("7"), entry("8"), entry("9")]))
            .await,
        Code::ResourceExhausted,
        "ERR batch of 4 entries exceeds the limit of 3 (batch_entries_max)",
    );
    assert_status(
        client
            .add(batch(vec![
                entry("6"),
                v1::NewEntry {
                    id: "7".into(),
                    fields: vec![],
                },
            ]))
            .await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xadd' command",
    );
    // A batch is atomic: the second entry's ID is too small, so the first is not added.
    assert_status(
        client.add(batch(vec![entry("10"), entry("6")])).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    assert_eq!(ids(&range_all(&mut client, "s").await), vec!["5-5"]);

    assert_status(
        client
            .add(add_request(&"n".repeat(17), "*", &[("f", "v")]))
            .await,
        Code::ResourceExhausted,
        "ERR stream name of 17 bytes exceeds the limit of 16 bytes (stream_name_bytes_max)",
    );
    assert_status_contains(
        client
            .add(add_request("s", "*", &[("f", &"v".repeat(3000))]))
            .await,
        Code::ResourceExhausted,
        "exceeds the limit of 2048 bytes (entry_bytes_max)",
    );
}

#[tokio::test]
async fn add_trims_and_refuses_bad_trims() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let with_trim = |id: &str, trim: v1::Trim| {
        let mut request = add_request("s", id, &[("f", "v")]);
        request.trim = Some(trim);
        request
    };
    let maxlen = |count| Some(v1::trim::Threshold::Maxlen(count));
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), &[("f", "v")]).await;
    }
    client
        .add(with_trim(
            "6",
            v1::Trim {
                threshold: maxlen(2),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(ids(&range_all(&mut client, "s").await), vec!["5-0", "6-0"]);
    client
        .add(with_trim(
            "7",
            v1::Trim {
                threshold: Some(v1::trim::Threshold::Minid("6-0".into())),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(ids(&range_all(&mut client, "s").await), vec!["6-0", "7-0"]);

    assert_status(
        client
            .add(with_trim(
                "8",
                v1::Trim {
                    threshold: maxlen(1),
                    approximate: false,
                    limit: 10,
                },
            ))
            .await,
        Code::InvalidArgument,
        "ERR syntax error, LIMIT cannot be used without the special ~ option",
    );
    assert_status(
        client
            .add(with_trim(
                "8",
                v1::Trim {
                    threshold: None,
                    approximate: true,
                    limit: 10,
                },
            ))
            .await,
        Code::InvalidArgument,
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
    );
    assert_status(
        client.add(with_trim("8", v1::Trim::default())).await,
        Code::InvalidArgument,
        "ERR syntax error, a trim must set maxlen or minid",
    );
    assert_status(
        client
            .add(with_trim(
                "8",
                v1::Trim {
                    threshold: Some(v1::trim::Threshold::Minid("-".into())),
                    ..Default::default()
                },
            ))
            .await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    // Nothing was added by the refused calls.
    assert_eq!(ids(&range_all(&mut client, "s").await), vec!["6-0", "7-0"]);
}

#[tokio::test]
async fn nomkstream_does_not_create() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let mut request = add_request("missing", "*", &[("f", "v")]);
    request.nomkstream = true;
    let reply = client.add(request.clone()).await.unwrap().into_inner();
    assert_eq!(reply.id, "");
    assert!(reply.ids.is_empty());
    let list = client
        .list(v1::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.streams.is_empty());

    request.id = "0-0".into();
    assert_status(
        client.add(request.clone()).await,
        Code::InvalidArgument,
        "ERR The ID specified in XADD must be greater than 0-0",
    );

    add(&mut client, "missing", "1-1", &[("f", "v")]).await;
    request.id = "2-2".into();
    let reply = client.add(request).await.unwrap().into_inner();
    assert_eq!(reply.id, "2-2");
}

#[tokio::test]
async fn binary_names_and_values_round_trip() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let binary_name = vec![0xff, b'k', 0x00];
    let binary_field = bytes_field(&[0x00, 0xfe], &[0xc3, 0x28, 0xff]);
    // Bytes that are valid UTF-8 come back as text.
    let utf8_as_bytes = bytes_field("naïve".as_bytes(), "héllo".as_bytes());
    let reply = client
        .add(v1::AddRequest {
            key: Some(v1::add_request::Key::StreamBytes(binary_name.clone())),
            fields: vec![binary_field.clone(), utf8_as_bytes, field("", "")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let range = client
        .range(v1::RangeRequest {
            key: Some(v1::range_request::Key::StreamBytes(binary_name.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&range.entries), vec![reply.id.clone()]);
    assert_eq!(
        range.entries[0].fields,
        vec![binary_field.clone(), field("naïve", "héllo"), field("", "")]
    );

    let read = client
        .read(read_request(
            vec![v1::StreamOffset {
                key: Some(v1::stream_offset::Key::StreamBytes(binary_name.clone())),
                id: "0".into(),
            }],
            None,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.streams[0].key,
        Some(v1::stream_entries::Key::StreamBytes(binary_name.clone()))
    );
    assert_eq!(read.streams[0].entries[0].fields[0], binary_field);

    // A name sent as bytes that happens to be UTF-8 is listed as text.
    client
        .add(v1::AddRequest {
            key: Some(v1::add_request::Key::StreamBytes(b"plain".to_vec())),
            fields: vec![field("f", "v")],
            ..Default::default()
        })
        .await
        .unwrap();
    let list = client
        .list(v1::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.streams, vec!["plain"]);
    assert_eq!(list.streams_bytes, vec![binary_name]);
}

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

#[tokio::test]
async fn tail_sends_existing_then_live_entries() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[("--tail-batch-max", "3")]).await;
    let mut client = server.client().await;
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), &[("i", &id.to_string())]).await;
    }
    let mut from_start = client
        .tail(tail_request("s", "0", 2))
        .await
        .unwrap()
        .into_inner();
    let mut only_new = client
        .tail(tail_request("s", "", 0))
        .await
        .unwrap()
        .into_inner();
    let mut after_three = client
        .tail(tail_request("s", "3", 100))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_ids(&mut from_start).await, vec!["1-0", "2-0"]);
    assert_eq!(next_ids(&mut from_start).await, vec!["3-0", "4-0"]);
    assert_eq!(next_ids(&mut from_start).await, vec!["5-0"]);
    // A requested batch above tail_batch_max is lowered to it.
    assert_eq!(next_ids(&mut after_three).await, vec!["4-0", "5-0"]);

    add(&mut client, "s", "6", &[("i", "6")]).await;
    assert_eq!(next_ids(&mut from_start).await, vec!["6-0"]);
    assert_eq!(next_ids(&mut only_new).await, vec!["6-0"]);
    assert_eq!(next_ids(&mut after_three).await, vec!["6-0"]);

    let batch = v1::AddRequest {
        key: Some(v1::add_request::Key::Stream("s".into())),
        entries: (7..=11)
            .map(|id| v1::NewEntry {
                id: id.to_string(),
                fields: vec![field("i", &id.to_string())],
            })
            .collect(),
        ..Default::default()
    };
    client.add(batch).await.unwrap();
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
    let dir = data_dir();
    let mut server = Server::start(
        dir.path(),
        &[
            ("--tail-batch-max", "2"),
            ("--segment-bytes-max", "1048576"),
            ("--entry-bytes-max", "65536"),
        ],
    )
    .await;
    let mut client = server.client().await;
    // 4 MB: more than the client's HTTP/2 stream window (hyper's 2 MB) and the server's
    // send buffer, so the server must stop reading for this subscriber.
    let value = "v".repeat(20_000);
    let total = 200;
    for id in 1..=total {
        add(&mut client, "s", &id.to_string(), &[("f", &value)]).await;
    }
    let mut tail = client
        .tail(tail_request("s", "0", 0))
        .await
        .unwrap()
        .into_inner();
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
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let mut tail = client
        .tail(tail_request("later", "", 0))
        .await
        .unwrap()
        .into_inner();
    add(&mut client, "later", "1-1", &[("f", "v")]).await;
    let message = guard("tail message", tail.next())
        .await
        .expect("open")
        .expect("ok");
    assert_eq!(ids(&message.entries), vec!["1-1"]);

    let dropped = client
        .drop(v1::DropRequest {
            streams: vec!["later".into()],
            streams_bytes: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dropped.dropped, 1);
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
    let dir = data_dir();
    let server = Server::start(dir.path(), &[("--tail-subscribers-max", "1")]).await;
    let mut client = server.client().await;
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
    let first = client
        .tail(tail_request("s", "$", 0))
        .await
        .unwrap()
        .into_inner();
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

#[tokio::test]
async fn len_delete_and_trim() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    assert_eq!(
        client
            .len(len_request("s"))
            .await
            .unwrap()
            .into_inner()
            .length,
        0
    );
    for id in 1..=10 {
        add(&mut client, "s", &id.to_string(), &[("f", "v")]).await;
    }
    assert_eq!(
        client
            .len(len_request("s"))
            .await
            .unwrap()
            .into_inner()
            .length,
        10
    );

    let delete = |ids: &[&str]| v1::DeleteRequest {
        key: Some(v1::delete_request::Key::Stream("s".into())),
        ids: ids.iter().map(|id| id.to_string()).collect(),
    };
    assert_status(
        client.delete(delete(&[])).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xdel' command",
    );
    // One bad ID refuses the whole call: nothing is deleted.
    assert_status(
        client.delete(delete(&["1-0", "+"])).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_eq!(
        client
            .len(len_request("s"))
            .await
            .unwrap()
            .into_inner()
            .length,
        10
    );
    let deleted = client
        .delete(delete(&["1-0", "2", "99-0", "1-0"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.deleted, 2);
    assert_eq!(
        client
            .len(len_request("s"))
            .await
            .unwrap()
            .into_inner()
            .length,
        8
    );

    let trim = |trim: Option<v1::Trim>| v1::TrimRequest {
        key: Some(v1::trim_request::Key::Stream("s".into())),
        trim,
    };
    assert_status(
        client.trim(trim(None)).await,
        Code::InvalidArgument,
        "ERR syntax error, XTRIM must be called with a trimming strategy",
    );
    assert_status(
        client.trim(trim(Some(v1::Trim::default()))).await,
        Code::InvalidArgument,
        "ERR syntax error, XTRIM must be called with a trimming strategy",
    );
    assert_status(
        client
            .trim(trim(Some(v1::Trim {
                threshold: Some(v1::trim::Threshold::Maxlen(1)),
                approximate: false,
                limit: 5,
            })))
            .await,
        Code::InvalidArgument,
        "ERR syntax error, LIMIT cannot be used without the special ~ option",
    );
    let removed = client
        .trim(trim(Some(v1::Trim {
            threshold: Some(v1::trim::Threshold::Maxlen(6)),
            ..Default::default()
        })))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.removed, 2);
    assert_eq!(
        ids(&range_all(&mut client, "s").await),
        vec!["5-0", "6-0", "7-0", "8-0", "9-0", "10-0"]
    );
    let removed = client
        .trim(trim(Some(v1::Trim {
            threshold: Some(v1::trim::Threshold::Minid("8".into())),
            ..Default::default()
        })))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.removed, 3);
    // Approximate trimming removes whole segments only: never more than asked.
    let approximate = client
        .trim(trim(Some(v1::Trim {
            threshold: Some(v1::trim::Threshold::Maxlen(1)),
            approximate: true,
            limit: 0,
        })))
        .await
        .unwrap()
        .into_inner();
    assert!(approximate.removed <= 2, "{approximate:?}");
    assert_eq!(
        client
            .len(len_request("s"))
            .await
            .unwrap()
            .into_inner()
            .length,
        3 - approximate.removed
    );
    // A missing stream has nothing to trim or delete.
    let mut missing = trim(Some(v1::Trim {
        threshold: Some(v1::trim::Threshold::Maxlen(0)),
        ..Default::default()
    }));
    missing.key = Some(v1::trim_request::Key::Stream("missing".into()));
    assert_eq!(client.trim(missing).await.unwrap().into_inner().removed, 0);
}

#[tokio::test]
async fn set_id_follows_redis_rules() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    let set_id =
        |last_id: &str, entries_added: Option<u64>, max_deleted_id: &str| v1::SetIdRequest {
            key: Some(v1::set_id_request::Key::Stream("s".into())),
            last_id: last_id.into(),
            entries_added,
            max_deleted_id: max_deleted_id.into(),
        };
    assert_status(
        client.set_id(set_id("1-1", None, "")).await,
        Code::NotFound,
        "ERR no such key",
    );
    add(&mut client, "s", "5-1", &[("f", "v")]).await;
    add(&mut client, "s", "5-2", &[("f", "v")]).await;
    assert_status(
        client.set_id(set_id("5-1", None, "")).await,
        Code::FailedPrecondition,
        "ERR The ID specified in XSETID is smaller than the target stream top item",
    );
    assert_status(
        client.set_id(set_id("9-9", Some(1), "")).await,
        Code::FailedPrecondition,
        "ERR The entries_added specified in XSETID is smaller than the target stream length",
    );
    assert_status(
        client.set_id(set_id("9-9", None, "10-0")).await,
        Code::FailedPrecondition,
        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
    );
    assert_status(
        client.set_id(set_id("bad", None, "")).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_status(
        client.set_id(set_id("9-9", None, "+")).await,
        Code::InvalidArgument,
        INVALID_ID,
    );

    client.set_id(set_id("9-9", Some(50), "7-0")).await.unwrap();
    let info = client
        .info(info_request("s", false, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.last_generated_id, "9-9");
    assert_eq!(info.entries_added, 50);
    assert_eq!(info.max_deleted_entry_id, "7-0");
    assert_status(
        client.add(add_request("s", "9-9", &[("f", "v")])).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    assert_eq!(add(&mut client, "s", "9-*", &[("f", "v")]).await, "9-10");
}

#[tokio::test]
async fn info_plain_and_full() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    assert_status(
        client.info(info_request("s", false, None)).await,
        Code::NotFound,
        "ERR no such key",
    );
    for id in 1..=12 {
        add(&mut client, "s", &id.to_string(), &[("i", &id.to_string())]).await;
    }
    client
        .delete(v1::DeleteRequest {
            key: Some(v1::delete_request::Key::Stream("s".into())),
            ids: vec!["1".into()],
        })
        .await
        .unwrap();
    let info = client
        .info(info_request("s", false, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.length, 11);
    assert_eq!(info.last_generated_id, "12-0");
    assert_eq!(info.max_deleted_entry_id, "1-0");
    assert_eq!(info.entries_added, 12);
    assert_eq!(info.recorded_first_entry_id, "2-0");
    assert_eq!(info.groups, 0);
    assert!(info.radix_tree_keys >= 1);
    assert_eq!(
        info.first_entry.map(|entry| entry.id),
        Some("2-0".to_string())
    );
    assert_eq!(
        info.last_entry.map(|entry| entry.id),
        Some("12-0".to_string())
    );
    assert!(info.entries.is_empty());

    let full = client
        .info(info_request("s", true, None))
        .await
        .unwrap()
        .into_inner();
    assert!(full.first_entry.is_none() && full.last_entry.is_none());
    assert_eq!(
        ids(&full.entries),
        (2..=11).map(|id| format!("{id}-0")).collect::<Vec<_>>()
    );
    let full = client
        .info(info_request("s", true, Some(3)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&full.entries), vec!["2-0", "3-0", "4-0"]);
    let full = client
        .info(info_request("s", true, Some(0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.entries.len(), 11);
    assert_status(
        client.info(info_request("s", false, Some(3))).await,
        Code::InvalidArgument,
        "ERR syntax error, COUNT can only be used with FULL",
    );
}

#[tokio::test]
async fn list_and_drop() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client().await;
    for name in ["orders:1", "orders:2", "users", "hello", "hallo"] {
        add(&mut client, name, "*", &[("f", "v")]).await;
    }
    let list = |pattern: &str| v1::ListRequest {
        pattern: pattern.into(),
    };
    let all = client.list(list("")).await.unwrap().into_inner();
    assert_eq!(
        all.streams,
        vec!["hallo", "hello", "orders:1", "orders:2", "users"]
    );
    assert_eq!(
        client
            .list(list("orders:*"))
            .await
            .unwrap()
            .into_inner()
            .streams,
        vec!["orders:1", "orders:2"]
    );
    assert_eq!(
        client
            .list(list("h[ae]llo"))
            .await
            .unwrap()
            .into_inner()
            .streams,
        vec!["hallo", "hello"]
    );
    assert_eq!(
        client
            .list(list("h?llo"))
            .await
            .unwrap()
            .into_inner()
            .streams,
        vec!["hallo", "hello"]
    );
    assert!(client
        .list(list("nothing*"))
        .await
        .unwrap()
        .into_inner()
        .streams
        .is_empty());

    assert_status(
        client.drop(v1::DropRequest::default()).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'del' command",
    );
    let dropped = client
        .drop(v1::DropRequest {
            streams: vec!["hello".into(), "missing".into(), "hello".into()],
            streams_bytes: vec![b"users".to_vec()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dropped.dropped, 2);
    assert_eq!(
        client.list(list("")).await.unwrap().into_inner().streams,
        vec!["hallo", "orders:1", "orders:2"]
    );
    let gone = client
        .range(range_request("users", "-", "+"))
        .await
        .unwrap()
        .into_inner();
    assert!(!gone.exists);
    // A dropped stream starts afresh when written again.
    assert_eq!(add(&mut client, "users", "1-1", &[("f", "v")]).await, "1-1");
}
