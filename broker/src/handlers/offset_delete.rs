//! OffsetDelete (ApiKey 47), version 0.
//!
//! # Behaviour
//! Deletes a group's committed offsets of the partitions given, unless its members subscribe
//! to the topic (GROUP_SUBSCRIBED_TO_TOPIC per partition); UNKNOWN_TOPIC_OR_PARTITION for a
//! partition that does not exist. GROUP_ID_NOT_FOUND for a group that
//! does not exist; NON_EMPTY_GROUP for a group with members of a protocol other than
//! `consumer`. See [`crate::group`].

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use super::{str_bytes, HandlerContext};

/// Handles an OffsetDelete request.
pub fn handle(ctx: &HandlerContext<'_>, _version: i16, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    match ctx
        .state
        .groups()
        .delete_offsets(ctx.state, ctx.node_id, &request.group_id.0, &topics)
    {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code.code()),
        Ok(answers) => OffsetDeleteResponse::default().with_topics(
            answers
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(TopicName(str_bytes(&topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, code)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(index)
                                        .with_error_code(code.code())
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
