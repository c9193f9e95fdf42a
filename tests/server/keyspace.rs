//! List and Drop: glob patterns over stream names, and dropping streams, which start afresh
//! when written again.

use sluice::proto::v1;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

#[tokio::test]
async fn list_and_drop() {
    let (_server, mut client) = start(&[]).await;
    for name in ["orders:1", "orders:2", "users", "hello", "hallo"] {
        add(&mut client, name, "*", FV).await;
    }
    assert_eq!(
        list(&mut client, "").await,
        vec!["hallo", "hello", "orders:1", "orders:2", "users"]
    );
    assert_eq!(
        list(&mut client, "orders:*").await,
        vec!["orders:1", "orders:2"]
    );
    assert_eq!(list(&mut client, "h[ae]llo").await, vec!["hallo", "hello"]);
    assert_eq!(list(&mut client, "h?llo").await, vec!["hallo", "hello"]);
    assert!(list(&mut client, "nothing*").await.is_empty());

    assert_status(
        client.drop(v1::DropRequest::default()).await,
        Code::InvalidArgument,
        "ERR wrong number of arguments for 'del' command",
    );
    let request = v1::DropRequest {
        streams_bytes: vec![b"users".to_vec()],
        ..drop_request(&["hello", "missing", "hello"])
    };
    assert_eq!(drop_streams(&mut client, request).await, 2);
    assert_eq!(
        list(&mut client, "").await,
        vec!["hallo", "orders:1", "orders:2"]
    );
    let gone = range(&mut client, range_request("users", "-", "+")).await;
    assert!(!gone.exists);
    // A dropped stream starts afresh when written again.
    assert_eq!(add(&mut client, "users", "1-1", FV).await, "1-1");
}
