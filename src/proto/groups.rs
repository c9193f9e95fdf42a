//! The consumer-group messages to and from the engine's types, shared by the server (which
//! builds them) and the client (which reads them back). IDs travel as Redis strings; an ID the
//! other side sent that does not parse is an error naming it.

use super::convert::{entries_fields_from_proto, field_to_proto, StreamKey};
use super::v1;
use crate::id::StreamId;
use crate::model::{
    ConsumerInfo, Delivery, FullConsumer, FullGroup, GroupInfo, GroupPolicy, GroupRead,
    PendingEntry, PendingSummary,
};

/// An ID the other side sent, or an error naming it.
pub fn id_from_proto(text: &str) -> Result<StreamId, String> {
    StreamId::parse_strict(text.as_bytes())
        .map_err(|_| format!("ERR Protocol error: invalid stream ID '{text}'"))
}

fn ids_from_proto(ids: &[String]) -> Result<Vec<StreamId>, String> {
    ids.iter().map(|id| id_from_proto(id)).collect()
}

fn name<K: StreamKey>(name: Option<K>) -> Vec<u8> {
    name.map(StreamKey::into_name).unwrap_or_default()
}

/// A policy for the wire (the default dead-letter stream travels as unset).
pub fn policy_to_proto(policy: &GroupPolicy) -> v1::GroupPolicy {
    v1::GroupPolicy {
        max_deliveries: policy.max_deliveries,
        dead_letter: policy.dead_letter_stream.clone().map(StreamKey::from_name),
        lease_ms: policy.lease_ms,
    }
}

/// A policy from the wire; unset is the default (no limit, no lease).
pub fn policy_from_proto(policy: Option<v1::GroupPolicy>) -> GroupPolicy {
    let policy = policy.unwrap_or_default();
    GroupPolicy {
        max_deliveries: policy.max_deliveries,
        dead_letter_stream: policy.dead_letter.map(StreamKey::into_name),
        lease_ms: policy.lease_ms,
    }
}

/// A delivery for the wire.
pub fn delivery_to_proto(delivery: Delivery) -> v1::Delivery {
    v1::Delivery {
        id: delivery.id.to_string(),
        deleted: delivery.fields.is_none(),
        fields: delivery
            .fields
            .unwrap_or_default()
            .into_iter()
            .map(field_to_proto)
            .collect(),
        idle_ms: delivery.idle_ms,
        delivered_before: delivery.delivered_before,
    }
}

/// A delivery from the wire.
pub fn delivery_from_proto(delivery: v1::Delivery) -> Result<Delivery, String> {
    Ok(Delivery {
        id: id_from_proto(&delivery.id)?,
        fields: (!delivery.deleted).then(|| entries_fields_from_proto(delivery.fields)),
        idle_ms: delivery.idle_ms,
        delivered_before: delivery.delivered_before,
    })
}

/// What a group read gave one stream, for the wire.
pub fn group_read_to_proto(stream: Vec<u8>, read: GroupRead) -> v1::GroupStreamEntries {
    v1::GroupStreamEntries {
        key: Some(StreamKey::from_name(stream)),
        entries: read.deliveries.into_iter().map(delivery_to_proto).collect(),
        dead_lettered: read.dead_lettered.iter().map(StreamId::to_string).collect(),
    }
}

/// What a group read gave one stream, from the wire.
pub fn group_read_from_proto(
    entries: v1::GroupStreamEntries,
) -> Result<(Vec<u8>, GroupRead), String> {
    let deliveries = entries
        .entries
        .into_iter()
        .map(delivery_from_proto)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        name(entries.key),
        GroupRead {
            deliveries,
            dead_lettered: ids_from_proto(&entries.dead_lettered)?,
        },
    ))
}

/// XPENDING's summary for the wire.
pub fn summary_to_proto(summary: PendingSummary) -> v1::PendingResponse {
    let (first, last) = summary.bounds.unzip();
    v1::PendingResponse {
        count: summary.count,
        first_id: first.map(|id| id.to_string()).unwrap_or_default(),
        last_id: last.map(|id| id.to_string()).unwrap_or_default(),
        consumers: summary
            .consumers
            .into_iter()
            .map(|(consumer, pending)| v1::ConsumerPending {
                consumer_name: Some(StreamKey::from_name(consumer)),
                pending,
            })
            .collect(),
        entries: Vec::new(),
    }
}

/// XPENDING's summary from the wire.
pub fn summary_from_proto(response: &v1::PendingResponse) -> Result<PendingSummary, String> {
    let bounds = match (response.first_id.as_str(), response.last_id.as_str()) {
        ("", "") => None,
        (first, last) => Some((id_from_proto(first)?, id_from_proto(last)?)),
    };
    Ok(PendingSummary {
        count: response.count,
        bounds,
        consumers: response
            .consumers
            .iter()
            .map(|consumer| (name(consumer.consumer_name.clone()), consumer.pending))
            .collect(),
    })
}

/// XPENDING's extended form's entry for the wire.
pub fn pending_entry_to_proto(entry: PendingEntry) -> v1::PendingEntry {
    v1::PendingEntry {
        id: entry.id.to_string(),
        consumer_name: Some(StreamKey::from_name(entry.consumer)),
        idle_ms: entry.idle_ms,
        delivery_count: entry.delivery_count,
    }
}

/// XPENDING's extended form's entry from the wire.
pub fn pending_entry_from_proto(entry: v1::PendingEntry) -> Result<PendingEntry, String> {
    Ok(PendingEntry {
        id: id_from_proto(&entry.id)?,
        consumer: name(entry.consumer_name),
        idle_ms: entry.idle_ms,
        delivery_count: entry.delivery_count,
    })
}

/// XINFO GROUPS's group for the wire.
pub fn group_info_to_proto(info: GroupInfo) -> v1::GroupInfo {
    v1::GroupInfo {
        policy: Some(policy_to_proto(&info.policy)),
        group_name: Some(StreamKey::from_name(info.name)),
        consumers: info.consumers,
        pending: info.pending,
        last_delivered_id: info.last_delivered.to_string(),
        entries_read: info.entries_read,
        lag: info.lag,
    }
}

/// XINFO GROUPS's group from the wire.
pub fn group_info_from_proto(info: v1::GroupInfo) -> Result<GroupInfo, String> {
    Ok(GroupInfo {
        name: name(info.group_name),
        consumers: info.consumers,
        pending: info.pending,
        last_delivered: id_from_proto(&info.last_delivered_id)?,
        entries_read: info.entries_read,
        lag: info.lag,
        policy: policy_from_proto(info.policy),
    })
}

/// XINFO CONSUMERS's consumer for the wire.
pub fn consumer_info_to_proto(info: ConsumerInfo) -> v1::ConsumerInfo {
    v1::ConsumerInfo {
        consumer_name: Some(StreamKey::from_name(info.name)),
        pending: info.pending,
        idle_ms: info.idle_ms,
        inactive_ms: info.inactive_ms,
    }
}

/// XINFO CONSUMERS's consumer from the wire.
pub fn consumer_info_from_proto(info: v1::ConsumerInfo) -> ConsumerInfo {
    ConsumerInfo {
        name: name(info.consumer_name),
        pending: info.pending,
        idle_ms: info.idle_ms,
        inactive_ms: info.inactive_ms,
    }
}

/// XINFO STREAM FULL's group for the wire.
pub fn full_group_to_proto(group: FullGroup) -> v1::FullGroup {
    v1::FullGroup {
        info: Some(group_info_to_proto(group.info)),
        pending: group
            .pending
            .into_iter()
            .map(|(id, consumer, time, count)| v1::FullPending {
                id: id.to_string(),
                consumer_name: Some(StreamKey::from_name(consumer)),
                delivery_time: time,
                delivery_count: count,
            })
            .collect(),
        consumers: group
            .consumers
            .into_iter()
            .map(full_consumer_to_proto)
            .collect(),
    }
}

fn full_consumer_to_proto(consumer: FullConsumer) -> v1::FullConsumer {
    v1::FullConsumer {
        consumer_name: Some(StreamKey::from_name(consumer.name)),
        seen_time: consumer.seen_time,
        active_time: consumer.active_time,
        pel_count: consumer.pel_count,
        pending: consumer
            .pending
            .into_iter()
            .map(|(id, time, count)| v1::FullPending {
                id: id.to_string(),
                consumer_name: None,
                delivery_time: time,
                delivery_count: count,
            })
            .collect(),
    }
}

/// XINFO STREAM FULL's group from the wire.
pub fn full_group_from_proto(group: v1::FullGroup) -> Result<FullGroup, String> {
    let pending = group
        .pending
        .into_iter()
        .map(|entry| {
            let id = id_from_proto(&entry.id)?;
            Ok((
                id,
                name(entry.consumer_name),
                entry.delivery_time,
                entry.delivery_count,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let consumers = group
        .consumers
        .into_iter()
        .map(|consumer| {
            let pending = consumer
                .pending
                .into_iter()
                .map(|entry| {
                    Ok((
                        id_from_proto(&entry.id)?,
                        entry.delivery_time,
                        entry.delivery_count,
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(FullConsumer {
                name: name(consumer.consumer_name),
                seen_time: consumer.seen_time,
                active_time: consumer.active_time,
                pel_count: consumer.pel_count,
                pending,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(FullGroup {
        info: group_info_from_proto(group.info.unwrap_or_default())?,
        pending,
        consumers,
    })
}
