//! The Prometheus endpoint: a scrape after some traffic over both front ends shows the
//! calls by method and status, RESP commands, entries appended and read, sync rounds, the
//! sampled gauges (streams, open files, a group's pending entries and lag), and other paths
//! are 404.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use sluice::proto::v1;
use sluice::proto::v1::groups_client::GroupsClient;

use crate::helpers::*;
use crate::server_harness::*;

/// `GET path` against the metrics endpoint: the whole response.
async fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    guard("scrape", socket.read_to_string(&mut response))
        .await
        .expect("read");
    response
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(scrape: &str, name: &str, labels: &[&str]) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_scrape_shows_calls_commands_storage_and_groups() {
    let (server, mut client) = start(&[("--fsync", "always")]).await;
    let address = server.metrics_address.expect("metrics on");
    for _ in 0..3 {
        client.add(add_request("s", "*", FV)).await.expect("add");
    }
    let refused = client.len(v1::LenRequest { key: None }).await;
    assert!(refused.is_err());
    client
        .range(range_request("s", "-", "+"))
        .await
        .expect("range");
    let mut groups = GroupsClient::new(server.channel().await);
    groups
        .create(v1::CreateGroupRequest {
            key: Some(v1::create_group_request::Key::Stream("s".into())),
            group_name: Some(v1::create_group_request::GroupName::Group("g".into())),
            id: "0".into(),
            ..Default::default()
        })
        .await
        .expect("create group");
    groups
        .read(v1::ReadGroupRequest {
            group_name: Some(v1::read_group_request::GroupName::Group("g".into())),
            consumer_name: Some(v1::read_group_request::ConsumerName::Consumer("c".into())),
            streams: vec![v1::GroupStreamOffset {
                key: Some(v1::group_stream_offset::Key::Stream("s".into())),
                id: ">".into(),
            }],
            count: Some(2),
            ..Default::default()
        })
        .await
        .expect("group read");
    let mut resp = TcpStream::connect(server.resp_address.expect("RESP on"))
        .await
        .expect("RESP connect");
    resp.write_all(b"XADD s * f v\r\nXLEN nothing extra\r\n")
        .await
        .expect("RESP send");
    let mut replies = vec![0; 256];
    let mut got = 0;
    while !String::from_utf8_lossy(&replies[..got]).contains("-ERR") {
        got += guard("RESP replies", resp.read(&mut replies[got..]))
            .await
            .expect("RESP read");
    }

    let scrape = get(address, "/metrics").await;
    assert!(scrape.starts_with("HTTP/1.1 200 OK"), "{scrape}");
    let add = ["method=\"/sluice.v1.Streams/Add\"", "code=\"Ok\""];
    assert_eq!(
        sample(&scrape, "sluice_grpc_requests_total", &add),
        Some(3.0)
    );
    let len = [
        "method=\"/sluice.v1.Streams/Len\"",
        "code=\"InvalidArgument\"",
    ];
    assert_eq!(
        sample(&scrape, "sluice_grpc_requests_total", &len),
        Some(1.0)
    );
    let count = ["method=\"/sluice.v1.Streams/Add\""];
    assert_eq!(
        sample(&scrape, "sluice_grpc_request_seconds_count", &count),
        Some(3.0)
    );
    assert_eq!(
        sample(&scrape, "sluice_resp_commands_total", &["command=\"xadd\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "sluice_resp_errors_total", &["command=\"xlen\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "sluice_entries_appended_total", &[]),
        Some(4.0)
    );
    // The Range's three and the group read's two.
    assert!(sample(&scrape, "sluice_entries_read_total", &[]).is_some_and(|n| n >= 5.0));
    assert!(sample(&scrape, "sluice_sync_seconds_count", &[]).is_some_and(|n| n >= 1.0));
    assert!(sample(&scrape, "sluice_sync_batch_writers_count", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(sample(&scrape, "sluice_streams", &[]), Some(1.0));
    assert!(sample(&scrape, "sluice_open_files", &[]).is_some_and(|n| n >= 1.0));
    assert!(sample(&scrape, "sluice_disk_bytes", &[]).is_some_and(|n| n > 0.0));
    assert_eq!(sample(&scrape, "sluice_blocked_readers", &[]), Some(0.0));
    assert_eq!(sample(&scrape, "sluice_resp_clients", &[]), Some(1.0));
    let group = ["stream=\"s\"", "group=\"g\""];
    assert_eq!(sample(&scrape, "sluice_group_pending", &group), Some(2.0));
    assert_eq!(sample(&scrape, "sluice_group_lag", &group), Some(2.0));

    let missing = get(address, "/other").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}
