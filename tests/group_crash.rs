//! SIGKILL under a job pipeline: producers add, consumers read with a group (the group has a
//! lease and a delivery limit, so unacknowledged entries come back and end up dead-lettered),
//! acknowledge most entries and reject some; the real `sluice serve` (fsync `always`) is killed
//! at a random moment, round after round on the same data directory. After each restart:
//! - every entry whose acknowledgement was answered is no longer pending;
//! - every entry is in exactly one place: not yet delivered (above the group's last-delivered
//!   ID), pending, acknowledged (an acknowledgement for it was sent), or dead-lettered — never
//!   pending and dead-lettered, never dead-lettered twice;
//! - delivery counts never went back below what a delivery answered;
//! - the last-delivered ID never went back below what a delivery answered.
//!
//! `SLUICE_GROUP_CRASH_ROUNDS=n` sets the number of kill rounds (default 3).

mod server_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use server_harness::*;
use sluice::id::StreamId;
use sluice::proto::v1;
use sluice::proto::v1::groups_client::GroupsClient;
use sluice::proto::v1::streams_client::StreamsClient;
use tonic::transport::Channel;

const STREAM: &str = "jobs";
const DEAD: &str = "jobs:dead-letter";
const GROUP: &str = "workers";

/// What the clients were answered, across rounds.
#[derive(Clone, Default)]
struct Answered {
    /// Entries whose acknowledgement was answered.
    acked: BTreeSet<StreamId>,
    /// Entries an acknowledgement or rejection was sent for (answered or not).
    settled_sent: BTreeSet<StreamId>,
    /// The highest delivery count each entry was answered with.
    counts: BTreeMap<StreamId, u64>,
    /// The highest ID a `>` read answered with.
    last_delivered: StreamId,
}

fn value_text(field: &v1::Field) -> &str {
    match &field.field_value {
        Some(v1::field::FieldValue::Value(text)) => text,
        other => panic!("expected a text value, got {other:?}"),
    }
}

fn id(text: &str) -> StreamId {
    StreamId::parse_strict(text.as_bytes()).expect("the server sends valid IDs")
}

async fn producer(mut client: StreamsClient<Channel>) {
    for n in 0u64.. {
        let request = v1::AddRequest {
            key: Some(v1::add_request::Key::Stream(STREAM.into())),
            fields: vec![field("job", &n.to_string())],
            ..Default::default()
        };
        if client.add(request).await.is_err() {
            return;
        }
    }
}

async fn consumer(mut groups: GroupsClient<Channel>, name: String, answered: Arc<Mutex<Answered>>) {
    for round in 0u64.. {
        let request = v1::ReadGroupRequest {
            group_name: Some(v1::read_group_request::GroupName::Group(GROUP.into())),
            consumer_name: Some(v1::read_group_request::ConsumerName::Consumer(name.clone())),
            streams: vec![v1::GroupStreamOffset {
                key: Some(v1::group_stream_offset::Key::Stream(STREAM.into())),
                id: ">".into(),
            }],
            count: Some(8),
            block_ms: Some(100),
            ..Default::default()
        };
        let Ok(reply) = groups.read(request).await else {
            return;
        };
        let mut to_ack = Vec::new();
        let mut to_reject = Vec::new();
        {
            let mut answered = answered.lock().unwrap();
            for stream in reply.into_inner().streams {
                for entry in stream.entries {
                    let entry_id = id(&entry.id);
                    let count = answered.counts.entry(entry_id).or_default();
                    *count = (*count).max(entry.delivered_before + 1);
                    if entry.delivered_before == 0 {
                        answered.last_delivered = answered.last_delivered.max(entry_id);
                    }
                    // Most are acknowledged, some rejected, some left to the lease.
                    match (entry_id.ms + entry_id.seq + round) % 10 {
                        0 => to_reject.push(entry.id),
                        1 | 2 => {}
                        _ => to_ack.push(entry.id),
                    }
                }
            }
            for text in to_ack.iter().chain(&to_reject) {
                answered.settled_sent.insert(id(text));
            }
        }
        if !to_ack.is_empty() {
            let request = v1::AckRequest {
                key: Some(v1::ack_request::Key::Stream(STREAM.into())),
                group_name: Some(v1::ack_request::GroupName::Group(GROUP.into())),
                ids: to_ack.clone(),
            };
            if groups.ack(request).await.is_err() {
                return;
            }
            answered
                .lock()
                .unwrap()
                .acked
                .extend(to_ack.iter().map(|text| id(text)));
        }
        if !to_reject.is_empty() {
            let request = v1::NackRequest {
                key: Some(v1::nack_request::Key::Stream(STREAM.into())),
                group_name: Some(v1::nack_request::GroupName::Group(GROUP.into())),
                consumer_name: Some(v1::nack_request::ConsumerName::Consumer(name.clone())),
                ids: to_reject,
                reject: true,
                ..Default::default()
            };
            // Another consumer may have claimed it by lease meanwhile: a refusal is fine.
            if let Err(status) = groups.nack(request).await {
                if status.code() != tonic::Code::FailedPrecondition {
                    return;
                }
            }
        }
    }
}

/// The group's state as the restarted server reports it.
async fn check(server: &Server, answered: &Answered) {
    let mut client = server.client().await;
    let mut groups = GroupsClient::new(server.channel().await);
    let pending = groups
        .pending(v1::PendingRequest {
            key: Some(v1::pending_request::Key::Stream(STREAM.into())),
            group_name: Some(v1::pending_request::GroupName::Group(GROUP.into())),
            range: Some(v1::PendingRange {
                count: 100_000,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let pending: BTreeMap<StreamId, u64> = pending
        .iter()
        .map(|entry| (id(&entry.id), entry.delivery_count))
        .collect();
    let info = groups
        .info(v1::GroupsInfoRequest {
            key: Some(v1::groups_info_request::Key::Stream(STREAM.into())),
        })
        .await
        .unwrap()
        .into_inner();
    let last_delivered = id(&info.groups[0].last_delivered_id);
    let dead = range_all(&mut client, DEAD).await;
    let dead_origins: Vec<StreamId> = dead
        .iter()
        .map(|entry| {
            let origin = entry.fields.iter().find(|field| {
                matches!(&field.field_name, Some(v1::field::FieldName::Name(name)) if name == "origin-id")
            });
            id(value_text(origin.expect("a dead letter names its origin")))
        })
        .collect();
    let dead_set: BTreeSet<StreamId> = dead_origins.iter().copied().collect();
    assert_eq!(
        dead_set.len(),
        dead_origins.len(),
        "an entry was dead-lettered twice"
    );
    assert!(
        last_delivered >= answered.last_delivered,
        "last-delivered went back"
    );
    for acked in &answered.acked {
        assert!(
            !pending.contains_key(acked),
            "{acked} was acknowledged, yet pending"
        );
    }
    for (entry, count) in &answered.counts {
        if let Some(now) = pending.get(entry) {
            assert!(
                now >= count,
                "{entry}: delivery count went back from {count} to {now}"
            );
        }
    }
    for entry in range_all(&mut client, STREAM).await {
        let entry = id(&entry.id);
        let places = [
            pending.contains_key(&entry),
            dead_set.contains(&entry),
            answered.settled_sent.contains(&entry)
                && !dead_set.contains(&entry)
                && !pending.contains_key(&entry),
            entry > last_delivered,
        ];
        let count = places.iter().filter(|place| **place).count();
        assert_eq!(
            count, 1,
            "{entry} is in {count} places: {places:?} (pending, dead, acked, new)"
        );
    }
}

#[tokio::test]
async fn sigkill_under_a_job_pipeline_keeps_every_entry_in_one_place() {
    let rounds: u64 = std::env::var("SLUICE_GROUP_CRASH_ROUNDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let dir = data_dir();
    let answered = Arc::new(Mutex::new(Answered::default()));
    let flags = [("--fsync", "always")];
    for round in 0..rounds {
        let server = Server::start(dir.path(), &flags).await;
        if round == 0 {
            let mut groups = GroupsClient::new(server.channel().await);
            groups
                .create(v1::CreateGroupRequest {
                    key: Some(v1::create_group_request::Key::Stream(STREAM.into())),
                    group_name: Some(v1::create_group_request::GroupName::Group(GROUP.into())),
                    id: "0".into(),
                    mkstream: true,
                    policy: Some(v1::GroupPolicy {
                        max_deliveries: 3,
                        lease_ms: 150,
                        dead_letter: None,
                    }),
                    ..Default::default()
                })
                .await
                .unwrap();
        } else {
            let seen = answered.lock().unwrap().clone();
            check(&server, &seen).await;
        }
        let mut tasks = Vec::new();
        for _ in 0..2 {
            tasks.push(tokio::spawn(producer(server.client().await)));
        }
        for name in ["alice", "bob"] {
            let groups = GroupsClient::new(server.channel().await);
            tasks.push(tokio::spawn(consumer(
                groups,
                name.into(),
                Arc::clone(&answered),
            )));
        }
        let run_ms = 400 + (round * 337) % 500;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        drop(server); // SIGKILL
        for task in tasks {
            guard("client tasks end after the kill", task)
                .await
                .unwrap();
        }
    }
    let server = Server::start(dir.path(), &flags).await;
    let answered = answered.lock().unwrap().clone();
    check(&server, &answered).await;
    assert!(
        answered.acked.len() > 20,
        "the pipeline barely ran: {} acked",
        answered.acked.len()
    );
}
