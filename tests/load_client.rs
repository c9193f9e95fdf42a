//! The load generator's unary gRPC client (`benches/load/unary.rs`) against the real server:
//! replies decoded, a reply spread over several HTTP/2 frames joined, a refusal carried as
//! its status, calls one after another and side by side on one connection, and a reply larger
//! than a stream's flow-control window (so the client must hand the window back as it reads).

#[path = "server_harness/mod.rs"]
mod server_harness;

#[allow(dead_code)]
#[path = "../benches/load/unary.rs"]
mod unary;

use server_harness::{data_dir, guard, Server};
use sluice::proto::v1;
use unary::{RpcMethod, Unary};

const ADD: &str = "/sluice.v1.Streams/Add";
const LEN: &str = "/sluice.v1.Streams/Len";
const RANGE: &str = "/sluice.v1.Streams/Range";

fn add_request(stream: &str, value: Vec<u8>) -> v1::AddRequest {
    v1::AddRequest {
        key: Some(v1::add_request::Key::Stream(stream.into())),
        fields: vec![v1::Field {
            field_name: Some(v1::field::FieldName::Name("data".into())),
            field_value: Some(v1::field::FieldValue::ValueBytes(value)),
        }],
        ..v1::AddRequest::default()
    }
}

#[tokio::test]
async fn unary_calls_return_replies_and_refusals() {
    let dir = data_dir();
    let flags = [
        ("--segment-bytes-max", "1048576"),
        ("--entry-bytes-max", "65536"),
    ];
    let server = Server::start(dir.path(), &flags).await;
    let mut unary = guard("connect", Unary::connect(server.address))
        .await
        .expect("connect");

    // Three values of 20 KB: the Range reply is larger than one HTTP/2 frame (16 KB).
    let add = RpcMethod::new(&unary, ADD);
    let mut ids = Vec::new();
    for fill in [b'a', b'b', b'c'] {
        let call = add.call(&add_request("s", vec![fill; 20_000]));
        let reply: v1::AddResponse = guard("add", unary.call(&call)).await.expect("add");
        assert_eq!(reply.ids.len(), 1);
        ids.push(reply.ids[0].clone());
    }

    let len = v1::LenRequest {
        key: Some(v1::len_request::Key::Stream("s".into())),
    };
    let len = RpcMethod::new(&unary, LEN).call(&len);
    let reply: v1::LenResponse = guard("len", unary.call(&len)).await.expect("len");
    assert_eq!(reply.length, 3);

    let range = v1::RangeRequest {
        key: Some(v1::range_request::Key::Stream("s".into())),
        start: "-".into(),
        end: "+".into(),
        ..v1::RangeRequest::default()
    };
    let range = RpcMethod::new(&unary, RANGE).call(&range);
    let reply: v1::RangeResponse = guard("range", unary.call(&range)).await.expect("range");
    let returned: Vec<_> = reply.entries.iter().map(|entry| entry.id.clone()).collect();
    assert_eq!(returned, ids);
    for (entry, fill) in reply.entries.iter().zip([b'a', b'b', b'c']) {
        let value = match &entry.fields[0].field_value {
            Some(v1::field::FieldValue::ValueBytes(value)) => value.as_slice(),
            Some(v1::field::FieldValue::Value(text)) => text.as_bytes(),
            None => panic!("entry {} lost its value", entry.id),
        };
        assert_eq!(value, vec![fill; 20_000], "entry {}", entry.id);
    }

    // A refusal comes back as the server's status, and the connection serves the next call.
    let nameless = RpcMethod::new(&unary, LEN).call(&v1::LenRequest { key: None });
    let refused = guard("refused len", unary.call::<v1::LenResponse>(&nameless)).await;
    let status = refused.expect_err("a Len naming no stream was accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let reply: v1::LenResponse = guard("len again", unary.call(&len))
        .await
        .expect("len after a refusal");
    assert_eq!(reply.length, 3);

    // Two clones of the connection, calling at once, each get their own reply.
    let mut other = unary.clone();
    let (mine, theirs) = guard("two calls at once", async {
        tokio::join!(
            unary.call::<v1::RangeResponse>(&range),
            other.call::<v1::LenResponse>(&len)
        )
    })
    .await;
    assert_eq!(mine.expect("range beside len").entries.len(), 3);
    assert_eq!(theirs.expect("len beside range").length, 3);

    // One reply of 2.6 MB, more than a stream's 2 MiB window: the server stops sending until
    // the client hands back what it has read.
    for _ in 0..40 {
        let call = add.call(&add_request("s", vec![b'd'; 60_000]));
        let _: v1::AddResponse = guard("add", unary.call(&call)).await.expect("add");
    }
    let reply: v1::RangeResponse = guard("a range of 2.6 MB", unary.call(&range))
        .await
        .expect("a range of 2.6 MB");
    assert_eq!(reply.entries.len(), 43);
}
