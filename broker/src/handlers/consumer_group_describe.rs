//! ConsumerGroupDescribe (ApiKey 69, KIP-848), versions 0..=1.
//!
//! # Behaviour
//! Each KIP-848 group's state (Empty, Assigning, Reconciling, Stable), group and assignment
//! epochs, assignor, and members with their epochs, subscriptions, current and target
//! assignments (by topic id and name). A group that does not exist, or is a classic group, is
//! GROUP_ID_NOT_FOUND with Kafka's message. Authorized operations are not reported (no
//! authorizer). See [`crate::group::consumer`].
//!
//! # Version notes
//! v1 adds each member's type (1: a consumer-protocol member; kafkit has no others).

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, TopicName,
};

use super::{str_bytes, HandlerContext};
use crate::group::consumer::{Assignment as Owned, ConsumerGroup};

/// Handles a ConsumerGroupDescribe request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            let described = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(i32::MIN);
            match ctx
                .state
                .groups()
                .consumer_describe(ctx.state, ctx.node_id, &id.0)
            {
                Err((code, message)) => described
                    .with_error_code(code.code())
                    .with_error_message((!message.is_empty()).then(|| str_bytes(&message))),
                Ok(group) => describe(described, &group, version),
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn describe(described: DescribedGroup, group: &ConsumerGroup, version: i16) -> DescribedGroup {
    let assignment = |owned: &Owned| {
        Assignment::default().with_topic_partitions(
            owned
                .iter()
                .map(|(topic_id, partitions)| {
                    let name = group
                        .topics
                        .iter()
                        .find(|(_, (id, _))| id == topic_id)
                        .map(|(name, _)| name.as_str())
                        .unwrap_or_default();
                    TopicPartitions::default()
                        .with_topic_id(*topic_id)
                        .with_topic_name(TopicName(str_bytes(name)))
                        .with_partitions(partitions.iter().copied().collect())
                })
                .collect(),
        )
    };
    let members = group
        .members
        .values()
        .map(|m| {
            Member::default()
                .with_member_id(str_bytes(&m.id))
                .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                .with_member_epoch(if m.left_static { -2 } else { m.epoch })
                .with_client_id(str_bytes(&m.client_id))
                .with_client_host(str_bytes(&m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_topics
                        .iter()
                        .map(|t| TopicName(str_bytes(t)))
                        .collect(),
                )
                // Kafka shows "" for a member without one.
                .with_subscribed_topic_regex(Some(str_bytes(
                    m.subscribed_regex.as_deref().unwrap_or_default(),
                )))
                .with_assignment(assignment(&m.assigned))
                .with_target_assignment(assignment(&group.target_of(&m.id)))
                .with_member_type(if version >= 1 { 1 } else { -1 })
        })
        .collect();
    described
        .with_group_id(GroupId(str_bytes(&group.id)))
        .with_group_state(str_bytes(group.state().name()))
        .with_group_epoch(group.epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(str_bytes(group.assignor))
        .with_members(members)
}
