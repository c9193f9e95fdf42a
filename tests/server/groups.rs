//! The Groups service end to end: group lifecycle and its refusals (NOT_FOUND for NOGROUP and a
//! missing stream, ALREADY_EXISTS for BUSYGROUP), reads with acks, pending lists and claims,
//! blocking group reads woken by entries and by leases and ended by DESTROY and DEL, dead-letter
//! routing, the streaming consumer, and group state across a restart.

use sluice::proto::v1;
use sluice::proto::v1::groups_client::GroupsClient;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::Code;

use crate::helpers::*;
use crate::server_harness::*;

type Groups = GroupsClient<Channel>;

async fn groups_client(server: &Server) -> Groups {
    GroupsClient::new(server.channel().await)
}

fn stream(name: &str) -> Option<v1::create_group_request::Key> {
    Some(v1::create_group_request::Key::Stream(name.into()))
}

fn create_request(name: &str, group: &str, id: &str, mkstream: bool) -> v1::CreateGroupRequest {
    v1::CreateGroupRequest {
        key: stream(name),
        group_name: Some(v1::create_group_request::GroupName::Group(group.into())),
        id: id.into(),
        mkstream,
        ..Default::default()
    }
}

fn read_request(group: &str, consumer: &str, streams: &[(&str, &str)]) -> v1::ReadGroupRequest {
    v1::ReadGroupRequest {
        group_name: Some(v1::read_group_request::GroupName::Group(group.into())),
        consumer_name: Some(v1::read_group_request::ConsumerName::Consumer(
            consumer.into(),
        )),
        streams: streams
            .iter()
            .map(|(name, id)| v1::GroupStreamOffset {
                key: Some(v1::group_stream_offset::Key::Stream((*name).into())),
                id: (*id).into(),
            })
            .collect(),
        ..Default::default()
    }
}

/// The IDs a group read delivered from its `index`th stream.
fn delivered(reply: &v1::ReadGroupResponse, index: usize) -> Vec<String> {
    reply.streams[index]
        .entries
        .iter()
        .map(|entry| entry.id.clone())
        .collect()
}

async fn group_read(groups: &mut Groups, request: v1::ReadGroupRequest) -> v1::ReadGroupResponse {
    groups.read(request).await.unwrap().into_inner()
}

fn ack_request(name: &str, group: &str, ids: &[&str]) -> v1::AckRequest {
    v1::AckRequest {
        key: Some(v1::ack_request::Key::Stream(name.into())),
        group_name: Some(v1::ack_request::GroupName::Group(group.into())),
        ids: ids.iter().map(|id| id.to_string()).collect(),
    }
}

fn pending_request(name: &str, group: &str, range: Option<v1::PendingRange>) -> v1::PendingRequest {
    v1::PendingRequest {
        key: Some(v1::pending_request::Key::Stream(name.into())),
        group_name: Some(v1::pending_request::GroupName::Group(group.into())),
        range,
    }
}

async fn pending_ids(groups: &mut Groups, name: &str, group: &str) -> Vec<(String, u64)> {
    let range = v1::PendingRange {
        count: 100,
        ..Default::default()
    };
    groups
        .pending(pending_request(name, group, Some(range)))
        .await
        .unwrap()
        .into_inner()
        .entries
        .into_iter()
        .map(|entry| (entry.id, entry.delivery_count))
        .collect()
}

async fn add_ids(client: &mut Client, name: &str, ids: &[&str]) {
    for id in ids {
        add(client, name, id, FV).await;
    }
}

#[tokio::test]
async fn group_lifecycle_and_refusals() {
    let (server, mut client) = start(&[]).await;
    let mut groups = groups_client(&server).await;
    assert_status(
        groups.create(create_request("s", "g", "$", false)).await,
        Code::NotFound,
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
    );
    groups
        .create(create_request("s", "g", "$", true))
        .await
        .unwrap();
    assert_eq!(
        len(&mut client, "s").await,
        0,
        "MKSTREAM made an empty stream"
    );
    assert_status(
        groups.create(create_request("s", "g", "0", false)).await,
        Code::AlreadyExists,
        "BUSYGROUP Consumer Group name already exists",
    );
    assert_status(
        groups.create(create_request("s", "h", "bad", false)).await,
        Code::InvalidArgument,
        INVALID_ID,
    );
    let mut missing_group = create_request("s", "g", "$", false);
    missing_group.group_name = None;
    assert_status(
        groups.create(missing_group).await,
        Code::InvalidArgument,
        "ERR group name is required: set group or group_bytes",
    );
    assert_status(
        groups.pending(pending_request("s", "nope", None)).await,
        Code::NotFound,
        "NOGROUP No such key 's' or consumer group 'nope'",
    );
    assert_status(
        groups.read(read_request("nope", "c", &[("s", ">")])).await,
        Code::NotFound,
        "NOGROUP No such key 's' or consumer group 'nope' in XREADGROUP with GROUP option",
    );
    let consumer = |group: &str| v1::ConsumerRequest {
        key: Some(v1::consumer_request::Key::Stream("s".into())),
        group_name: Some(v1::consumer_request::GroupName::Group(group.into())),
        consumer_name: Some(v1::consumer_request::ConsumerName::Consumer("c".into())),
    };
    assert!(
        groups
            .create_consumer(consumer("g"))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    assert!(
        !groups
            .create_consumer(consumer("g"))
            .await
            .unwrap()
            .into_inner()
            .created
    );
    assert_status(
        groups.create_consumer(consumer("nope")).await,
        Code::NotFound,
        "NOGROUP No such consumer group 'nope' for key name 's'",
    );
    let destroy = |group: &str| v1::DestroyGroupRequest {
        key: Some(v1::destroy_group_request::Key::Stream("s".into())),
        group_name: Some(v1::destroy_group_request::GroupName::Group(group.into())),
    };
    assert!(
        groups
            .destroy(destroy("g"))
            .await
            .unwrap()
            .into_inner()
            .destroyed
    );
    assert!(
        !groups
            .destroy(destroy("g"))
            .await
            .unwrap()
            .into_inner()
            .destroyed
    );
}

#[tokio::test]
async fn reads_acks_pending_and_claims() {
    let (server, mut client) = start(&[]).await;
    let mut groups = groups_client(&server).await;
    add_ids(&mut client, "s", &["1-0", "2-0", "3-0"]).await;
    groups
        .create(create_request("s", "g", "0", false))
        .await
        .unwrap();
    let mut request = read_request("g", "alice", &[("s", ">")]);
    request.count = Some(2);
    assert_eq!(
        delivered(&group_read(&mut groups, request).await, 0),
        ["1-0", "2-0"]
    );
    let bob = read_request("g", "bob", &[("s", ">")]);
    assert_eq!(
        delivered(&group_read(&mut groups, bob.clone()).await, 0),
        ["3-0"]
    );
    assert!(
        group_read(&mut groups, bob).await.streams.is_empty(),
        "nothing new"
    );
    let acked = groups
        .ack(ack_request("s", "g", &["1-0", "1-0", "9-0"]))
        .await
        .unwrap();
    assert_eq!(acked.into_inner().acknowledged, 1);
    // History reads bump delivery counts.
    let history = read_request("g", "alice", &[("s", "0")]);
    assert_eq!(
        delivered(&group_read(&mut groups, history).await, 0),
        ["2-0"]
    );
    assert_eq!(
        pending_ids(&mut groups, "s", "g").await,
        [("2-0".into(), 2), ("3-0".into(), 1)]
    );
    let summary = groups
        .pending(pending_request("s", "g", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            summary.count,
            summary.first_id.as_str(),
            summary.last_id.as_str()
        ),
        (2, "2-0", "3-0")
    );
    let claim = v1::ClaimRequest {
        key: Some(v1::claim_request::Key::Stream("s".into())),
        group_name: Some(v1::claim_request::GroupName::Group("g".into())),
        consumer_name: Some(v1::claim_request::ConsumerName::Consumer("carol".into())),
        ids: vec!["2-0".into(), "3-0".into()],
        justid: true,
        ..Default::default()
    };
    let past_redis = v1::ClaimRequest {
        retry_count: Some(1 << 63),
        ..claim.clone()
    };
    let refused = groups.claim(past_redis).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        refused.message(),
        "ERR Invalid RETRYCOUNT option argument for XCLAIM"
    );
    let claimed = groups.claim(claim).await.unwrap().into_inner();
    let claimed: Vec<&str> = claimed
        .entries
        .iter()
        .map(|entry| entry.id.as_str())
        .collect();
    assert_eq!(claimed, ["2-0", "3-0"]);
    let consumers = v1::ConsumersRequest {
        key: Some(v1::consumers_request::Key::Stream("s".into())),
        group_name: Some(v1::consumers_request::GroupName::Group("g".into())),
    };
    let consumers = groups
        .consumers(consumers)
        .await
        .unwrap()
        .into_inner()
        .consumers;
    let pending: Vec<u64> = consumers.iter().map(|consumer| consumer.pending).collect();
    assert_eq!(pending, [0, 0, 2], "alice, bob, carol");
    let info = v1::GroupsInfoRequest {
        key: Some(v1::groups_info_request::Key::Stream("s".into())),
    };
    let info = groups.info(info).await.unwrap().into_inner().groups;
    assert_eq!(
        (info[0].pending, info[0].lag, info[0].entries_read),
        (2, Some(0), Some(3))
    );
    let stream_info = crate::helpers::info(&mut client, "s", false, None).await;
    assert_eq!(stream_info.groups, 1);
}

#[tokio::test]
async fn a_blocked_group_read_is_woken_by_an_add_and_ended_by_destroy_or_drop() {
    blocked_group_read_woken_and_ended("no").await;
}

/// Under `always` an add wakes readers through the log's sync round, and DESTROY through the
/// group journal's.
#[tokio::test]
async fn under_always_a_blocked_group_read_is_woken_and_ended_as_under_no() {
    blocked_group_read_woken_and_ended("always").await;
}

async fn blocked_group_read_woken_and_ended(fsync: &str) {
    let (server, mut client) = start(&[("--fsync", fsync)]).await;
    let groups = groups_client(&server).await;
    groups
        .clone()
        .create(create_request("s", "g", "$", true))
        .await
        .unwrap();
    let spawn = |request: v1::ReadGroupRequest| {
        let mut reader = groups.clone();
        tokio::spawn(async move { reader.read(request).await })
    };
    let mut blocking = read_request("g", "alice", &[("s", ">")]);
    blocking.block_ms = Some(0);
    let woken = spawn(blocking.clone());
    add(&mut client, "s", "5-0", FV).await;
    let reply = guard("woken group read", woken)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(delivered(&reply, 0), ["5-0"]);

    let waiting = spawn(blocking.clone());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let destroy = v1::DestroyGroupRequest {
        key: Some(v1::destroy_group_request::Key::Stream("s".into())),
        group_name: Some(v1::destroy_group_request::GroupName::Group("g".into())),
    };
    groups.clone().destroy(destroy).await.unwrap();
    let ended = guard("read after destroy", waiting).await.unwrap();
    assert_status(
        ended,
        Code::NotFound,
        "NOGROUP the consumer group this client was blocked on no longer exists",
    );

    groups
        .clone()
        .create(create_request("s", "g", "$", false))
        .await
        .unwrap();
    let waiting = spawn(blocking);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop_streams(&mut client, drop_request(&["s"])).await;
    let ended = guard("read after drop", waiting).await.unwrap();
    assert_status(
        ended,
        Code::NotFound,
        "UNBLOCKED the stream key no longer exists",
    );
}

fn policy(max_deliveries: u64, lease_ms: u64) -> Option<v1::GroupPolicy> {
    Some(v1::GroupPolicy {
        max_deliveries,
        lease_ms,
        dead_letter: None,
    })
}

#[tokio::test]
async fn a_lease_hands_an_idle_entry_to_a_blocked_reader() {
    let (server, mut client) = start(&[]).await;
    let mut groups = groups_client(&server).await;
    add(&mut client, "s", "1-0", FV).await;
    let mut create = create_request("s", "g", "0", false);
    create.policy = policy(0, 300);
    groups.create(create).await.unwrap();
    assert_eq!(
        delivered(
            &group_read(&mut groups, read_request("g", "alice", &[("s", ">")])).await,
            0
        ),
        ["1-0"]
    );
    // Nothing new: bob blocks until alice's lease runs out, then gets her entry.
    let mut blocked = read_request("g", "bob", &[("s", ">")]);
    blocked.block_ms = Some(0);
    let reply = guard("lease redelivery", groups.read(blocked))
        .await
        .unwrap()
        .into_inner();
    let entry = &reply.streams[0].entries[0];
    assert_eq!((entry.id.as_str(), entry.delivered_before), ("1-0", 1));
    assert!(
        entry.idle_ms >= 300,
        "redelivered after {} ms",
        entry.idle_ms
    );
    assert_eq!(
        pending_ids(&mut groups, "s", "g").await,
        [("1-0".into(), 2)]
    );
}

#[tokio::test]
async fn dead_letters_by_delivery_limit_and_by_rejection() {
    let (server, mut client) = start(&[]).await;
    let mut groups = groups_client(&server).await;
    add_ids(&mut client, "jobs", &["1-0", "2-0"]).await;
    let mut create = create_request("jobs", "g", "0", false);
    create.policy = policy(1, 0);
    groups.create(create).await.unwrap();
    group_read(&mut groups, read_request("g", "alice", &[("jobs", ">")])).await;
    // Delivered once already: the next delivery moves 1-0 to the dead-letter stream.
    let claim = v1::ClaimRequest {
        key: Some(v1::claim_request::Key::Stream("jobs".into())),
        group_name: Some(v1::claim_request::GroupName::Group("g".into())),
        consumer_name: Some(v1::claim_request::ConsumerName::Consumer("bob".into())),
        ids: vec!["1-0".into()],
        ..Default::default()
    };
    let claimed = groups.claim(claim).await.unwrap().into_inner();
    assert!(claimed.entries.is_empty());
    assert_eq!(claimed.dead_lettered, ["1-0"]);
    let nack = v1::NackRequest {
        key: Some(v1::nack_request::Key::Stream("jobs".into())),
        group_name: Some(v1::nack_request::GroupName::Group("g".into())),
        consumer_name: Some(v1::nack_request::ConsumerName::Consumer("alice".into())),
        ids: vec!["2-0".into()],
        reject: true,
        ..Default::default()
    };
    assert_eq!(
        groups
            .nack(nack.clone())
            .await
            .unwrap()
            .into_inner()
            .dead_lettered,
        ["2-0"]
    );
    assert_status(
        groups.nack(nack).await,
        Code::FailedPrecondition,
        "ERR no pending entry 2-0 for this consumer",
    );
    assert!(pending_ids(&mut groups, "jobs", "g").await.is_empty());
    let dead = range_all(&mut client, "jobs:dead-letter").await;
    assert_eq!(dead.len(), 2);
    let origin: Vec<&str> = dead
        .iter()
        .map(|entry| value_text(&entry.fields[2]))
        .collect();
    assert_eq!(
        origin,
        ["1-0", "2-0"],
        "origin-id after the entry's own field"
    );
}

fn consume_start(window: u64) -> v1::ConsumeRequest {
    v1::ConsumeRequest {
        message: Some(v1::consume_request::Message::Start(v1::ConsumeStart {
            key: Some(v1::consume_start::Key::Stream("s".into())),
            group_name: Some(v1::consume_start::GroupName::Group("g".into())),
            consumer_name: Some(v1::consume_start::ConsumerName::Consumer("worker".into())),
            window,
        })),
    }
}

fn settle(
    kind: fn(v1::Settle) -> v1::consume_request::Message,
    ids: &[String],
) -> v1::ConsumeRequest {
    v1::ConsumeRequest {
        message: Some(kind(v1::Settle {
            ids: ids.to_vec(),
            ..Default::default()
        })),
    }
}

async fn next_reply(replies: &mut tonic::Streaming<v1::ConsumeResponse>) -> v1::ConsumeResponse {
    guard("a consume reply", replies.next())
        .await
        .expect("open")
        .expect("a reply")
}

#[tokio::test]
async fn a_streaming_consumer_keeps_within_its_window_and_leaves_the_rest_pending() {
    let (server, mut client) = start(&[]).await;
    let mut groups = groups_client(&server).await;
    add_ids(&mut client, "s", &["1-0", "2-0", "3-0"]).await;
    groups
        .create(create_request("s", "g", "0", false))
        .await
        .unwrap();
    let (outbound, requests) = tokio::sync::mpsc::channel(8);
    outbound.send(consume_start(2)).await.unwrap();
    let mut replies = groups
        .consume(tokio_stream::wrappers::ReceiverStream::new(requests))
        .await
        .unwrap()
        .into_inner();
    let first = match next_reply(&mut replies).await.message {
        Some(v1::consume_response::Message::Entries(entries)) => entries,
        other => panic!("expected entries, got {other:?}"),
    };
    let first: Vec<String> = first.entries.iter().map(|entry| entry.id.clone()).collect();
    assert_eq!(first, ["1-0", "2-0"], "a window of 2");
    outbound
        .send(settle(v1::consume_request::Message::Ack, &first[..1]))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        match next_reply(&mut replies).await.message {
            Some(v1::consume_response::Message::Settled(settled)) => assert_eq!(settled.count, 1),
            Some(v1::consume_response::Message::Entries(entries)) => {
                seen.extend(entries.entries.into_iter().map(|entry| entry.id));
            }
            None => panic!("an empty reply"),
        }
    }
    assert_eq!(seen, ["3-0"], "acking one made room for one");
    drop(outbound);
    drop(replies);
    // The call is over: what it held is still pending.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let pending: Vec<String> = pending_ids(&mut groups, "s", "g")
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(pending, ["2-0", "3-0"]);
}

#[tokio::test]
async fn group_state_survives_a_restart() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[("--fsync", "always")]).await;
    let mut client = server.client().await;
    let mut groups = groups_client(&server).await;
    add_ids(&mut client, "s", &["1-0", "2-0", "3-0"]).await;
    groups
        .create(create_request("s", "g", "0", false))
        .await
        .unwrap();
    group_read(&mut groups, read_request("g", "alice", &[("s", ">")])).await;
    groups.ack(ack_request("s", "g", &["2-0"])).await.unwrap();
    let before = pending_ids(&mut groups, "s", "g").await;
    assert_eq!(server.terminate().await.code(), Some(0));
    let server = Server::start(dir.path(), &[("--fsync", "always")]).await;
    let mut groups = groups_client(&server).await;
    assert_eq!(pending_ids(&mut groups, "s", "g").await, before);
    assert!(
        group_read(&mut groups, read_request("g", "bob", &[("s", ">")]))
            .await
            .streams
            .is_empty()
    );
}

#[tokio::test]
async fn under_always_a_nack_wakes_a_blocked_group_read() {
    let (server, mut client) = start(&[("--fsync", "always")]).await;
    let mut groups = groups_client(&server).await;
    add(&mut client, "s", "1-0", FV).await;
    groups
        .create(create_request("s", "g", "0", false))
        .await
        .unwrap();
    assert_eq!(
        delivered(
            &group_read(&mut groups, read_request("g", "alice", &[("s", ">")])).await,
            0
        ),
        ["1-0"]
    );
    let mut blocking = read_request("g", "bob", &[("s", ">")]);
    blocking.block_ms = Some(0);
    let mut reader = groups.clone();
    let waiting = tokio::spawn(async move { reader.read(blocking).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let nack = v1::NackRequest {
        key: Some(v1::nack_request::Key::Stream("s".into())),
        group_name: Some(v1::nack_request::GroupName::Group("g".into())),
        consumer_name: Some(v1::nack_request::ConsumerName::Consumer("alice".into())),
        ids: vec!["1-0".into()],
        ..Default::default()
    };
    groups.nack(nack).await.unwrap();
    let woken = guard("a blocked read after XNACK under fsync always", waiting)
        .await
        .expect("the reading task")
        .expect("a group read")
        .into_inner();
    assert_eq!(delivered(&woken, 0), ["1-0"], "bob gets the released entry");
}

#[tokio::test]
async fn a_group_read_refuses_a_consumer_name_over_the_limit() {
    let (server, _client) = start(&[("--stream-name-bytes-max", "16")]).await;
    let mut groups = groups_client(&server).await;
    groups
        .create(create_request("s", "g", "$", true))
        .await
        .unwrap();
    let long = "c".repeat(17);
    assert_status(
        groups.read(read_request("g", &long, &[("s", ">")])).await,
        Code::ResourceExhausted,
        "ERR consumer name of 17 bytes exceeds the limit of 16 bytes (stream_name_bytes_max)",
    );
}
