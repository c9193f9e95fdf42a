//! Len, Delete, Trim and SetId: what they change and what they refuse, with Redis's texts.

use crate::helpers::*;
use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

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
