//! List and Drop: glob patterns over stream names, and dropping streams.

use crate::server_harness::*;
use sluice::proto::v1;
use tonic::Code;

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
