//! ConsumerGroupHeartbeat (ApiKey 68, KIP-848), versions 0..=1.
//!
//! # Behaviour
//! A member of a KIP-848 consumer group joins (epoch 0), heartbeats with its epoch, and leaves
//! (-1, or -2 for a static member); each answer carries its epoch, the heartbeat interval
//! (`group.consumer.heartbeat.interval.ms`) and, when it changed, its assignment by topic id.
//! The coordinator assigns (`uniform` by default, or `range`) and reconciles each member
//! incrementally: partitions are revoked before they move. Errors carry Kafka's messages.
//! See [`crate::group::consumer`].
//!
//! # Version notes
//! v1 (KIP-1082): the client chooses its member id (in v0 the coordinator does) and may
//! subscribe by regular expression (`subscribed_topic_regex`, matched against whole topic
//! names).

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};
use crate::group::GroupCoordinator;

/// Handles a ConsumerGroupHeartbeat request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let answer = ctx.state.groups().consumer_heartbeat(
        ctx.state,
        ctx.node_id,
        version,
        (ctx.client_id, ctx.client_host),
        &request,
    );
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(answer.error.code())
        .with_error_message(answer.message.as_deref().map(str_bytes));
    if answer.error != ErrorCode::None {
        return response;
    }
    response
        .with_member_id(answer.member_id.as_deref().map(str_bytes))
        .with_member_epoch(answer.epoch)
        // A member that left is told no interval, as Kafka does.
        .with_heartbeat_interval_ms(if answer.epoch < 0 {
            0
        } else {
            GroupCoordinator::consumer_heartbeat_interval_ms(ctx.state)
        })
        .with_assignment(answer.assignment.map(|a| {
            Assignment::default().with_topic_partitions(
                a.into_iter()
                    .map(|(topic_id, partitions)| {
                        TopicPartitions::default()
                            .with_topic_id(topic_id)
                            .with_partitions(partitions.into_iter().collect())
                    })
                    .collect(),
            )
        }))
}
