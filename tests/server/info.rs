//! Info: the counters and the first and last entries, and FULL with and without COUNT.

use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

#[tokio::test]
async fn info_plain_and_full() {
    let (_server, mut client) = start(&[]).await;
    assert_status(
        client.info(info_request("s", false, None)).await,
        Code::NotFound,
        NO_SUCH_KEY,
    );
    for id in 1..=12 {
        add(&mut client, "s", &id.to_string(), &[("i", &id.to_string())]).await;
    }
    delete(&mut client, "s", &["1"]).await;
    let plain = info(&mut client, "s", false, None).await;
    assert_eq!(plain.length, 11);
    assert_eq!(plain.last_generated_id, "12-0");
    assert_eq!(plain.max_deleted_entry_id, "1-0");
    assert_eq!(plain.entries_added, 12);
    assert_eq!(plain.recorded_first_entry_id, "2-0");
    assert_eq!(plain.groups, 0);
    assert!(plain.radix_tree_keys >= 1);
    assert_eq!(
        plain.first_entry.map(|entry| entry.id),
        Some("2-0".to_string())
    );
    assert_eq!(
        plain.last_entry.map(|entry| entry.id),
        Some("12-0".to_string())
    );
    assert!(plain.entries.is_empty());

    let full = info(&mut client, "s", true, None).await;
    assert!(full.first_entry.is_none() && full.last_entry.is_none());
    assert_eq!(
        ids(&full.entries),
        (2..=11).map(|id| format!("{id}-0")).collect::<Vec<_>>()
    );
    let full = info(&mut client, "s", true, Some(3)).await;
    assert_eq!(ids(&full.entries), vec!["2-0", "3-0", "4-0"]);
    let full = info(&mut client, "s", true, Some(0)).await;
    assert_eq!(full.entries.len(), 11);
    assert_status(
        client.info(info_request("s", false, Some(3))).await,
        Code::InvalidArgument,
        "ERR syntax error, COUNT can only be used with FULL",
    );
}
