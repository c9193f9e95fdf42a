//! Range: whether the stream exists, refusals of bad intervals, and reads across segment
//! boundaries.

use sluice::proto::v1;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

#[tokio::test]
async fn range_reports_whether_the_stream_exists() {
    let (_server, mut client) = start(&[]).await;
    add(&mut client, "s", "1-1", FV).await;

    let count_zero = with_count(range_request("s", "-", "+"), 0);
    let reply = range(&mut client, count_zero.clone()).await;
    assert!(reply.entries.is_empty());
    assert!(reply.exists);

    let mut missing = count_zero;
    missing.key = Some(v1::range_request::Key::Stream("missing".into()));
    let reply = range(&mut client, missing).await;
    assert!(reply.entries.is_empty());
    assert!(!reply.exists);

    let reply = range(&mut client, range_request("s", "5", "+")).await;
    assert!(reply.entries.is_empty());
    assert!(reply.exists);
}

#[tokio::test]
async fn range_refusals() {
    let (_server, mut client) = start(&[]).await;
    let after_the_last_id = "(18446744073709551615-18446744073709551615";
    assert_status(
        client
            .range(range_request("s", after_the_last_id, "+"))
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
        NAME_REQUIRED,
    );
}

#[tokio::test]
async fn many_entries_cross_segment_boundaries() {
    let (_server, mut client) = start(&[]).await;
    let value = "x".repeat(100);
    for index in 0..200 {
        let id = format!("{}-0", index + 1);
        let i = index.to_string();
        add(&mut client, "s", &id, &[("i", &i), ("pad", &value)]).await;
    }
    let all = range_all(&mut client, "s").await;
    assert_eq!(all.len(), 200);
    for (index, entry) in all.iter().enumerate() {
        assert_eq!(entry.id, format!("{}-0", index + 1));
        assert_eq!(value_text(&entry.fields[0]), index.to_string());
    }
    let info = info(&mut client, "s", false, None).await;
    assert!(
        info.radix_tree_keys > 1,
        "segments: {}",
        info.radix_tree_keys
    );
    assert_eq!(
        range_ids(&mut client, range_request("s", "150", "152")).await,
        vec!["150-0", "151-0", "152-0"]
    );
}
