//! Len, Delete, Trim and SetId: what they change and what they refuse, with Redis's texts.

use sluice::proto::v1;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

const NO_STRATEGY: &str = "ERR syntax error, XTRIM must be called with a trimming strategy";

#[tokio::test]
async fn len_delete_and_trim() {
    let (_server, mut client) = start(&[]).await;
    assert_eq!(len(&mut client, "s").await, 0);
    for id in 1..=10 {
        add(&mut client, "s", &id.to_string(), FV).await;
    }
    assert_eq!(len(&mut client, "s").await, 10);

    assert_status(
        client.delete(delete_request("s", &[])).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'xdel' command",
    );
    // One bad ID refuses the whole call: nothing is deleted.
    assert_status(
        client.delete(delete_request("s", &["1-0", "+"])).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    assert_eq!(len(&mut client, "s").await, 10);
    let deleted = delete(&mut client, "s", &["1-0", "2", "99-0", "1-0"]).await;
    assert_eq!(deleted, 2);
    assert_eq!(len(&mut client, "s").await, 8);

    assert_status(
        client.trim(trim_request("s", None)).await,
        Code::InvalidArgument,
        NO_STRATEGY,
    );
    assert_status(
        client
            .trim(trim_request("s", Some(v1::Trim::default())))
            .await,
        Code::InvalidArgument,
        NO_STRATEGY,
    );
    let exact_with_limit = v1::Trim {
        limit: 5,
        ..maxlen(1)
    };
    assert_status(
        client.trim(trim_request("s", Some(exact_with_limit))).await,
        Code::InvalidArgument,
        LIMIT_WITHOUT_TILDE,
    );
    assert_eq!(trim(&mut client, "s", maxlen(6)).await, 2);
    assert_eq!(
        all_ids(&mut client, "s").await,
        vec!["5-0", "6-0", "7-0", "8-0", "9-0", "10-0"]
    );
    assert_eq!(trim(&mut client, "s", minid("8")).await, 3);
    // Approximate trimming removes whole segments only: never more than asked.
    let approximate = v1::Trim {
        approximate: true,
        ..maxlen(1)
    };
    let removed = trim(&mut client, "s", approximate).await;
    assert!(removed <= 2, "removed {removed}");
    assert_eq!(len(&mut client, "s").await, 3 - removed);
    // A missing stream has nothing to trim or delete.
    assert_eq!(trim(&mut client, "missing", maxlen(0)).await, 0);
}

#[tokio::test]
async fn set_id_follows_redis_rules() {
    let (_server, mut client) = start(&[]).await;
    let set_id = |last_id, entries_added, max_deleted_id| {
        set_id_request("s", last_id, entries_added, max_deleted_id)
    };
    assert_status(
        client.set_id(set_id("1-1", None, "")).await,
        Code::NotFound,
        NO_SUCH_KEY,
    );
    add(&mut client, "s", "5-1", FV).await;
    add(&mut client, "s", "5-2", FV).await;
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
    let info = info(&mut client, "s", false, None).await;
    assert_eq!(info.last_generated_id, "9-9");
    assert_eq!(info.entries_added, 50);
    assert_eq!(info.max_deleted_entry_id, "7-0");
    assert_status(
        client.add(add_request("s", "9-9", FV)).await,
        Code::FailedPrecondition,
        TOP_ITEM,
    );
    assert_eq!(add(&mut client, "s", "9-*", FV).await, "9-10");
}
