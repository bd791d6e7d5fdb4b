//! OffsetFetch (ApiKey 9), versions 1..=9.
//!
//! # Behaviour
//! The committed offsets of a group: of the partitions asked for, or every committed one when
//! `topics` is null. A partition without a commit answers offset -1, leader epoch -1, empty
//! metadata and no error; so does every partition of a group that does not exist. See
//! [`crate::group`].
//!
//! # Version notes
//! v1 answers request errors per partition; v2-7 in a top-level error code (v2 allows null
//! topics); v5 adds the committed leader epoch; v6 is flexible; v7 has `require_stable`
//! (KIP-447: a partition whose offset an open transaction holds is answered
//! UNSTABLE_OFFSET_COMMIT, and the consumer retries)
//! (nothing is ever pending without transactions); v8 asks for several groups, each answered
//! with its own error; v9 adds member id and epoch, which classic groups do not check and
//! KIP-848 groups do (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH).

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafkit_protocol::ErrorCode;

use super::{str_bytes, HandlerContext};
use crate::group::FetchedOffset;

type Fetched = Result<Vec<(String, Vec<FetchedOffset>)>, ErrorCode>;

/// Handles an OffsetFetch request.
pub fn handle(ctx: &HandlerContext<'_>, version: i16, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = ctx.state.groups();
    if version >= 8 {
        let answers = request
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                // v9: a KIP-848 member names itself (Kafka's admin clients send no member).
                let member = (version >= 9 && (g.member_epoch >= 0 || g.member_id.is_some()))
                    .then(|| (g.member_id.as_deref().unwrap_or_default(), g.member_epoch));
                let fetched = groups.fetch_offsets(ctx.state, ctx.node_id, &g.group_id.0, topics, member);
                let mut answer = group_answer(g.group_id, fetched);
                if request.require_stable {
                    let unstable = groups.unstable_partitions(&answer.group_id.0);
                    for t in &mut answer.topics {
                        for p in &mut t.partitions {
                            if unstable.contains(&(t.name.0.to_string(), p.partition_index)) {
                                p.committed_offset = -1;
                                p.committed_leader_epoch = -1;
                                p.error_code = ErrorCode::UnstableOffsetCommit.code();
                            }
                        }
                    }
                }
                answer
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(answers);
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let fetched = groups.fetch_offsets(ctx.state, ctx.node_id, &request.group_id.0, asked.clone(), None);
    let (topics, code) = match fetched {
        Ok(topics) => (topics, ErrorCode::None),
        // v1 has no top-level error: every partition asked for carries it.
        Err(code) if version < 2 => {
            let topics = asked
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| {
                    let ps = ps
                        .into_iter()
                        .map(|partition| FetchedOffset {
                            partition,
                            committed: None,
                        })
                        .collect();
                    (t, ps)
                })
                .collect::<Vec<_>>();
            return OffsetFetchResponse::default().with_topics(legacy_topics(topics, version, code));
        }
        Err(code) => (Vec::new(), code),
    };
    let mut topics = legacy_topics(topics, version, ErrorCode::None);
    if version >= 7 && request.require_stable {
        let unstable = groups.unstable_partitions(&request.group_id.0);
        for t in &mut topics {
            for p in &mut t.partitions {
                if unstable.contains(&(t.name.0.to_string(), p.partition_index)) {
                    p.committed_offset = -1;
                    p.committed_leader_epoch = -1;
                    p.error_code = ErrorCode::UnstableOffsetCommit.code();
                }
            }
        }
    }
    OffsetFetchResponse::default()
        .with_topics(topics)
        .with_error_code(code.code())
}

fn legacy_topics(
    topics: Vec<(String, Vec<FetchedOffset>)>,
    version: i16,
    code: ErrorCode,
) -> Vec<OffsetFetchResponseTopic> {
    topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&name)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            let (offset, epoch, metadata) = fields(&p);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(if version >= 5 { epoch } else { -1 })
                                .with_metadata(Some(str_bytes(metadata)))
                                .with_error_code(code.code())
                        })
                        .collect(),
                )
        })
        .collect()
}

fn group_answer(group_id: GroupId, fetched: Fetched) -> OffsetFetchResponseGroup {
    let answer = OffsetFetchResponseGroup::default().with_group_id(group_id);
    match fetched {
        Err(code) => answer.with_error_code(code.code()),
        Ok(topics) => answer.with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(str_bytes(&name)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|p| {
                                    let (offset, epoch, metadata) = fields(&p);
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p.partition)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(str_bytes(metadata)))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}

/// Offset, leader epoch and metadata of a fetched partition (-1, -1, "" without a commit).
fn fields(p: &FetchedOffset) -> (i64, i32, &str) {
    match &p.committed {
        Some(v) => (v.offset, v.leader_epoch, v.metadata.as_str()),
        None => (-1, -1, ""),
    }
}
