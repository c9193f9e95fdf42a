//! Range: whether the stream exists, refusals of bad intervals, and reads across segment
//! boundaries.

use crate::helpers::*;
use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

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
