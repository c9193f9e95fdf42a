//! Add: every ID form, batches, NOMKSTREAM, trimming adds, refusals with Redis's texts,
//! and binary names and values round-tripping.

use crate::helpers::*;
use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

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
