//! Info: the plain counters and first/last entries, and FULL with and without COUNT.

use crate::helpers::*;
use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

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
