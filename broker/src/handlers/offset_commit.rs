//! OffsetCommit (ApiKey 8), versions 2..=9.
//!
//! # Behaviour
//! Commits offsets for a group, written to `__consumer_offsets` before the answer. A member of
//! a group commits with its generation and member id; a commit outside group management
//! (generation -1, no member id) is accepted while the group has no members. Per partition:
//! UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist,
//! OFFSET_METADATA_TOO_LARGE past
//! `offset.metadata.max.bytes`. See [`crate::group`].
//!
//! # Version notes
//! v2-4 carry a retention time, which Kafka ignores since 2.1 and kafkit too; v6 adds the
//! committed leader epoch; v7 `group_instance_id`; v8 is flexible. v10 (topic ids) is not
//! served: the kafka-protocol crate does not read its topic ids.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use super::{str_bytes, HandlerContext};
use crate::group::CommitOffsets;

/// Handles an OffsetCommit request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let commit = CommitOffsets {
        version,
        group_id: request.group_id.0.to_string(),
        generation: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.map(|i| i.to_string()),
        topics: request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let epoch = if version >= 6 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        };
                        let metadata = p.committed_metadata.map(|m| m.to_string());
                        (p.partition_index, p.committed_offset, epoch, metadata)
                    })
                    .collect();
                (t.name.0.to_string(), partitions)
            })
            .collect(),
    };
    let answers = ctx.state.groups().commit(ctx.state, ctx.node_id, commit);
    OffsetCommitResponse::default().with_topics(
        answers
            .into_iter()
            .map(|(topic, partitions)| {
                OffsetCommitResponseTopic::default()
                    .with_name(TopicName(str_bytes(&topic)))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(index, code)| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
