//! TxnOffsetCommit (ApiKey 28), versions 0..=5.
//!
//! # Behaviour
//! Offsets committed inside a transaction, sent to the group's coordinator after
//! AddOffsetsToTxn: held until the transaction ends, then visible (commit) or dropped
//! (abort). Per partition: INVALID_TXN_STATE unless the producer's open transaction added the
//! group's offsets; PRODUCER_FENCED for an older epoch; the member checks of OffsetCommit
//! when a generation is named (v3+); UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE.
//! See [`crate::txn`] and [`crate::group`].
//!
//! # Version notes
//! v2 adds the committed leader epoch; v3 the member's generation, id and instance id
//! (KIP-447) and flexible versions.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TopicName, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{str_bytes, HandlerContext};
use crate::group::CommitOffsets;

/// Handles a TxnOffsetCommit request.
pub fn handle(
    ctx: &HandlerContext<'_>,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let commit = CommitOffsets {
        version,
        group_id: request.group_id.0.to_string(),
        generation: if version >= 3 { request.generation_id } else { -1 },
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
                        let epoch = if version >= 2 {
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
    let producer = (request.producer_id.0, request.producer_epoch);
    let answers = match ctx.state.transactions().commits_offsets_of(
        &request.transactional_id.0,
        producer,
        &commit.group_id,
    ) {
        Ok(()) => ctx
            .state
            .groups()
            .txn_commit(ctx.state, ctx.node_id, producer, &commit),
        // A partition that does not exist is named as such first, as Kafka does.
        Err(code) => {
            let metadata = ctx.state.metadata();
            commit
                .topics
                .iter()
                .map(|(t, ps)| {
                    let codes = ps
                        .iter()
                        .map(|p| match metadata.partition(t, p.0) {
                            Some(_) => (p.0, code),
                            None => (p.0, kafkit_protocol::ErrorCode::UnknownTopicOrPartition),
                        })
                        .collect();
                    (t.clone(), codes)
                })
                .collect()
        }
    };
    TxnOffsetCommitResponse::default().with_topics(
        answers
            .into_iter()
            .map(|(topic, partitions)| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(TopicName(str_bytes(&topic)))
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(index, code)| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_error_code(code.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
