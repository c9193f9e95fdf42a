//! The load generator's unary gRPC client (`benches/load/unary.rs`) against the real server:
//! replies decoded, a reply spread over several HTTP/2 frames joined, a refusal carried as
//! its status, and calls one after another on one connection.

#[path = "server_harness/mod.rs"]
mod server_harness;

#[allow(dead_code)]
#[path = "../benches/load/unary.rs"]
mod unary;

use server_harness::{data_dir, guard, Server};
use sluice::proto::v1;
use unary::{Call, Unary};

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
    let add = Call::new(&unary, ADD, &add_request("s", Vec::new()));
    let mut ids = Vec::new();
    for fill in [b'a', b'b', b'c'] {
        let call = add.with(&add_request("s", vec![fill; 20_000]));
        let reply: v1::AddResponse = guard("add", unary.call(&call)).await.expect("add");
        assert_eq!(reply.ids.len(), 1);
        ids.push(reply.ids[0].clone());
    }

    let len = v1::LenRequest {
        key: Some(v1::len_request::Key::Stream("s".into())),
    };
    let reply: v1::LenResponse = guard("len", unary.call(&Call::new(&unary, LEN, &len)))
        .await
        .expect("len");
    assert_eq!(reply.length, 3);

    let range = v1::RangeRequest {
        key: Some(v1::range_request::Key::Stream("s".into())),
        start: "-".into(),
        end: "+".into(),
        ..v1::RangeRequest::default()
    };
    let reply: v1::RangeResponse = guard("range", unary.call(&Call::new(&unary, RANGE, &range)))
        .await
        .expect("range");
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
    let nameless = Call::new(&unary, LEN, &v1::LenRequest { key: None });
    let refused = guard("refused len", unary.call::<v1::LenResponse>(&nameless)).await;
    let status = refused.expect_err("a Len naming no stream was accepted");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let reply: v1::LenResponse = guard("len again", unary.call(&Call::new(&unary, LEN, &len)))
        .await
        .expect("len after a refusal");
    assert_eq!(reply.length, 3);
}
