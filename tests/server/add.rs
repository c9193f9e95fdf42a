//! Add: every ID form and batches, refusals with Redis's texts, trimming adds, NOMKSTREAM, and
//! binary names and values round-tripping through Range, Read and List.

use sluice::proto::v1;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

const XADD_ARITY: &str = "ERR wrong number of arguments for 'xadd' command";

/// An Add of `f v` that also trims.
fn add_with_trim(id: &str, trim: v1::Trim) -> v1::AddRequest {
    let mut request = add_request("s", id, FV);
    request.trim = Some(trim);
    request
}

/// An Add of one entry to a stream named by bytes.
fn bytes_add_request(name: &[u8], fields: Vec<v1::Field>) -> v1::AddRequest {
    v1::AddRequest {
        key: Some(v1::add_request::Key::StreamBytes(name.to_vec())),
        fields,
        ..Default::default()
    }
}

#[tokio::test]
async fn add_then_range_in_both_directions() {
    let (_server, mut client) = start(&[]).await;

    let added = add_reply(&mut client, add_request("s", "1-1", FV)).await;
    assert_eq!(
        (added.id.as_str(), added.ids),
        ("1-1", vec!["1-1".to_string()])
    );
    assert_eq!(add(&mut client, "s", "1-*", FV).await, "1-2");
    assert_eq!(add(&mut client, "s", "2", FV).await, "2-0");
    let batch = batch_request(
        "s",
        vec![
            new_entry("3-1", &[("a", "1")]),
            new_entry("3-*", &[("b", "2")]),
            new_entry("4", &[("c", "3"), ("d", "4")]),
        ],
    );
    let batch = add_reply(&mut client, batch).await;
    assert_eq!(batch.ids, vec!["3-1", "3-2", "4-0"]);
    assert_eq!(batch.id, "4-0");
    // "*" (the default when empty) is now in milliseconds: far above 4-0.
    let auto = add(&mut client, "s", "", FV).await;
    let auto_ms: u64 = auto.split('-').next().unwrap().parse().unwrap();
    assert!(auto_ms > 1_000_000_000_000, "{auto}");

    let all = range_all(&mut client, "s").await;
    assert_eq!(
        ids(&all),
        vec!["1-1", "1-2", "2-0", "3-1", "3-2", "4-0", auto.as_str()]
    );
    assert_eq!(all[5].fields, vec![field("c", "3"), field("d", "4")]);

    let newest = with_count(reversed(range_request("s", "", "")), 3);
    let newest = range(&mut client, newest).await;
    assert_eq!(ids(&newest.entries), vec![auto.as_str(), "4-0", "3-2"]);
    assert!(newest.exists);

    let exclusive = range_ids(&mut client, range_request("s", "(1-2", "3")).await;
    assert_eq!(exclusive, vec!["2-0", "3-1", "3-2"]);
    let reverse_bounded = reversed(range_request("s", "2", "(4-0"));
    assert_eq!(
        range_ids(&mut client, reverse_bounded).await,
        vec!["3-2", "3-1", "2-0"]
    );
}

#[tokio::test]
async fn add_refusals_carry_redis_texts() {
    let limits = [
        ("--batch-entries-max", "3"),
        ("--stream-name-bytes-max", "16"),
    ];
    let (_server, mut client) = start(&limits).await;
    add(&mut client, "s", "5-5", FV).await;

    let mut no_key = add_request("s", "*", FV);
    no_key.key = None;
    assert_status(
        client.add(no_key).await,
        Code::InvalidArgument,
        NAME_REQUIRED,
    );
    let no_fields = add_request("s", "6-0", &[]);
    assert_status(
        client.add(no_fields).await,
        Code::InvalidArgument,
        XADD_ARITY,
    );
    let bad = add_request("s", "bad", FV);
    assert_status(client.add(bad).await, Code::InvalidArgument, INVALID_ID);
    let zero = add_request("s", "0-0", FV);
    assert_status(client.add(zero).await, Code::InvalidArgument, ZERO_ID);
    let top = add_request("s", "5-5", FV);
    assert_status(client.add(top).await, Code::FailedPrecondition, TOP_ITEM);
    let below_top = add_request("s", "4-*", FV);
    assert_status(
        client.add(below_top).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    let mut both = add_request("s", "9-0", FV);
    both.entries = vec![new_entry("10-0", FV)];
    assert_status(
        client.add(both).await,
        Code::InvalidArgument,
        "ERR use either id and fields (one entry) or entries (a batch), not both",
    );

    let batch = |ids: &[&str]| batch_request("s", ids.iter().map(|id| new_entry(id, FV)).collect());
    assert_status(
        client.add(batch(&["6", "7", "8", "9"])).await,
        Code::ResourceExhausted,
        "ERR batch of 4 entries exceeds the limit of 3 (batch_entries_max)",
    );
    let one_without_fields = batch_request("s", vec![new_entry("6", FV), new_entry("7", &[])]);
    assert_status(
        client.add(one_without_fields).await,
        Code::InvalidArgument,
        XADD_ARITY,
    );
    // A batch is atomic: the second entry's ID is too small, so the first is not added.
    assert_status(
        client.add(batch(&["10", "6"])).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    assert_eq!(all_ids(&mut client, "s").await, vec!["5-5"]);

    assert_status(
        client.add(add_request(&"n".repeat(17), "*", FV)).await,
        Code::ResourceExhausted,
        "ERR stream name of 17 bytes exceeds the limit of 16 bytes (stream_name_bytes_max)",
    );
    let large = "v".repeat(3000);
    assert_status_contains(
        client.add(add_request("s", "*", &[("f", &large)])).await,
        Code::ResourceExhausted,
        "exceeds the limit of 2048 bytes (entry_bytes_max)",
    );
}

#[tokio::test]
async fn add_trims_and_refuses_bad_trims() {
    let (_server, mut client) = start(&[]).await;
    for id in 1..=5 {
        add(&mut client, "s", &id.to_string(), FV).await;
    }
    add_reply(&mut client, add_with_trim("6", maxlen(2))).await;
    assert_eq!(all_ids(&mut client, "s").await, vec!["5-0", "6-0"]);
    add_reply(&mut client, add_with_trim("7", minid("6-0"))).await;
    assert_eq!(all_ids(&mut client, "s").await, vec!["6-0", "7-0"]);

    let exact_with_limit = v1::Trim {
        limit: 10,
        ..maxlen(1)
    };
    assert_status(
        client.add(add_with_trim("8", exact_with_limit)).await,
        Code::InvalidArgument,
        LIMIT_WITHOUT_TILDE,
    );
    let limit_alone = v1::Trim {
        threshold: None,
        approximate: true,
        limit: 10,
    };
    assert_status(
        client.add(add_with_trim("8", limit_alone)).await,
        Code::InvalidArgument,
        "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
    );
    assert_status(
        client.add(add_with_trim("8", v1::Trim::default())).await,
        Code::InvalidArgument,
        "ERR syntax error, a trim must set maxlen or minid",
    );
    assert_status(
        client.add(add_with_trim("8", minid("-"))).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    // Nothing was added by the refused calls.
    assert_eq!(all_ids(&mut client, "s").await, vec!["6-0", "7-0"]);
}

#[tokio::test]
async fn nomkstream_does_not_create() {
    let (_server, mut client) = start(&[]).await;
    let mut request = add_request("missing", "*", FV);
    request.nomkstream = true;
    let reply = add_reply(&mut client, request.clone()).await;
    assert_eq!(reply.id, "");
    assert!(reply.ids.is_empty());
    assert!(list(&mut client, "").await.is_empty());

    request.id = "0-0".into();
    assert_status(
        client.add(request.clone()).await,
        Code::InvalidArgument,
        ZERO_ID,
    );

    add(&mut client, "missing", "1-1", FV).await;
    request.id = "2-2".into();
    assert_eq!(add_reply(&mut client, request).await.id, "2-2");
}

#[tokio::test]
async fn binary_names_and_values_round_trip() {
    let (_server, mut client) = start(&[]).await;
    let binary_name = vec![0xff, b'k', 0x00];
    let binary_field = bytes_field(&[0x00, 0xfe], &[0xc3, 0x28, 0xff]);
    // Bytes that are valid UTF-8 come back as text.
    let utf8_as_bytes = bytes_field("naïve".as_bytes(), "héllo".as_bytes());
    let fields = vec![binary_field.clone(), utf8_as_bytes, field("", "")];
    let reply = add_reply(&mut client, bytes_add_request(&binary_name, fields)).await;

    let whole = v1::RangeRequest {
        key: Some(v1::range_request::Key::StreamBytes(binary_name.clone())),
        ..Default::default()
    };
    let ranged = range(&mut client, whole).await;
    assert_eq!(ids(&ranged.entries), vec![reply.id.clone()]);
    assert_eq!(
        ranged.entries[0].fields,
        vec![binary_field.clone(), field("naïve", "héllo"), field("", "")]
    );

    let from_start = v1::ReadRequest {
        streams: vec![v1::StreamOffset {
            key: Some(v1::stream_offset::Key::StreamBytes(binary_name.clone())),
            id: "0".into(),
        }],
        count: None,
        block_ms: None,
    };
    let read = read(&mut client, from_start).await;
    assert_eq!(
        read.streams[0].key,
        Some(v1::stream_entries::Key::StreamBytes(binary_name.clone()))
    );
    assert_eq!(read.streams[0].entries[0].fields[0], binary_field);

    // A name sent as bytes that happens to be UTF-8 is listed as text.
    add_reply(
        &mut client,
        bytes_add_request(b"plain", vec![field("f", "v")]),
    )
    .await;
    let list = client
        .list(v1::ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.streams, vec!["plain"]);
    assert_eq!(list.streams_bytes, vec![binary_name]);
}
