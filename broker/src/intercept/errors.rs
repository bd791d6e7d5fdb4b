//! Whole-request error answers for the APIs without partitions (and the group APIs), built
//! from the request alone (nothing is handled: no producer id is allocated, no topic created
//! or deleted, no group joined or offset committed).
//!
//! Produce, Fetch, ListOffsets and Metadata are answered through
//! [`strip_partition_errors`](super::strip_partition_errors) with every partition taken out,
//! so their responses keep the shape a handler gives them.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiVersionsResponse, BrokerId,
    ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatResponse, CreatePartitionsResponse,
    CreateTopicsResponse, DeleteGroupsResponse, DeleteTopicsResponse, DescribeGroupsResponse, EndTxnResponse,
    FindCoordinatorResponse, HeartbeatResponse, InitProducerIdResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, ListTransactionsResponse, OffsetCommitResponse,
    OffsetDeleteResponse, OffsetFetchResponse, ProducerId, SyncGroupResponse, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::{ErrorCode, RequestBody};

use crate::response::Response;

/// The response answering every part of `body` with `code`; `None` for the APIs answered
/// through partition stripping, and for the KIP-511 ApiVersions fallback (which has its own
/// fixed answer).
pub(crate) fn request_error_response(body: &RequestBody, version: i16, code: ErrorCode) -> Option<Response> {
    let code = code.code();
    let response = match body {
        RequestBody::FindCoordinator(r) => {
            let mut response = FindCoordinatorResponse::default();
            if version >= 4 {
                response.coordinators = r
                    .coordinator_keys
                    .iter()
                    .map(|key| {
                        Coordinator::default()
                            .with_key(key.clone())
                            .with_node_id(BrokerId(-1))
                            .with_port(-1)
                            .with_error_code(code)
                    })
                    .collect();
            } else {
                response.error_code = code;
                response.node_id = BrokerId(-1);
                response.port = -1;
            }
            Response::FindCoordinator(response)
        }
        RequestBody::ApiVersions(_) => {
            Response::ApiVersions(ApiVersionsResponse::default().with_error_code(code))
        }
        RequestBody::CreateTopics(r) => Response::CreateTopics(
            CreateTopicsResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        CreatableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::DeleteTopics(r) => {
            let responses = if version >= 6 {
                r.topics
                    .iter()
                    .map(|t| {
                        DeletableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_topic_id(t.topic_id)
                            .with_error_code(code)
                    })
                    .collect()
            } else {
                r.topic_names
                    .iter()
                    .map(|name| {
                        DeletableTopicResult::default()
                            .with_name(Some(name.clone()))
                            .with_error_code(code)
                    })
                    .collect()
            };
            Response::DeleteTopics(DeleteTopicsResponse::default().with_responses(responses))
        }
        RequestBody::InitProducerId(_) => Response::InitProducerId(
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        RequestBody::CreatePartitions(r) => Response::CreatePartitions(
            CreatePartitionsResponse::default().with_results(
                r.topics
                    .iter()
                    .map(|t| {
                        CreatePartitionsTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        _ => return group_error_response(body, version, code),
    };
    Some(response)
}

/// The group APIs' whole-request error answers: the error where each version carries it
/// (per partition, per group, per member, or once).
fn group_error_response(body: &RequestBody, version: i16, code: i16) -> Option<Response> {
    Some(match body {
        RequestBody::OffsetCommit(r) => Response::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestBody::OffsetFetch(r) if version >= 8 => Response::OffsetFetch(
            OffsetFetchResponse::default().with_groups(
                r.groups
                    .iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::OffsetFetch(r) if version < 2 => Response::OffsetFetch(
            OffsetFetchResponse::default().with_topics(
                r.topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestBody::OffsetFetch(_) => {
            Response::OffsetFetch(OffsetFetchResponse::default().with_error_code(code))
        }
        RequestBody::JoinGroup(r) => Response::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_protocol_name((version < 7).then(StrBytes::default))
                .with_member_id(r.member_id.clone()),
        ),
        RequestBody::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse::default().with_error_code(code)),
        RequestBody::LeaveGroup(_) => {
            Response::LeaveGroup(LeaveGroupResponse::default().with_error_code(code))
        }
        RequestBody::SyncGroup(_) => Response::SyncGroup(SyncGroupResponse::default().with_error_code(code)),
        RequestBody::DescribeGroups(r) => Response::DescribeGroups(
            DescribeGroupsResponse::default().with_groups(
                r.groups
                    .iter()
                    .map(|g| {
                        DescribedGroup::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::ListGroups(_) => {
            Response::ListGroups(ListGroupsResponse::default().with_error_code(code))
        }
        RequestBody::DeleteGroups(r) => Response::DeleteGroups(
            DeleteGroupsResponse::default().with_results(
                r.groups_names
                    .iter()
                    .map(|g| {
                        DeletableGroupResult::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::OffsetDelete(_) => {
            Response::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
        }
        RequestBody::EndTxn(_) => Response::EndTxn(EndTxnResponse::default().with_error_code(code)),
        RequestBody::ListTransactions(_) => {
            Response::ListTransactions(ListTransactionsResponse::default().with_error_code(code))
        }
        RequestBody::AddOffsetsToTxn(_) => {
            Response::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code))
        }
        RequestBody::AddPartitionsToTxn(r) if version < 4 => {
            // Before v4 there is no top-level error: every partition carries it.
            let topics = r
                .v3_and_below_topics
                .iter()
                .map(|t| {
                    AddPartitionsToTxnTopicResult::default()
                        .with_name(t.name.clone())
                        .with_results_by_partition(
                            t.partitions
                                .iter()
                                .map(|&p| {
                                    AddPartitionsToTxnPartitionResult::default()
                                        .with_partition_index(p)
                                        .with_partition_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            Response::AddPartitionsToTxn(
                AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics),
            )
        }
        RequestBody::AddPartitionsToTxn(_) => {
            Response::AddPartitionsToTxn(AddPartitionsToTxnResponse::default().with_error_code(code))
        }
        RequestBody::TxnOffsetCommit(r) => Response::TxnOffsetCommit(
            TxnOffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        TxnOffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        TxnOffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestBody::DescribeTransactions(r) => Response::DescribeTransactions(
            kafka_protocol::messages::DescribeTransactionsResponse::default().with_transaction_states(
                r.transactional_ids
                    .iter()
                    .map(|id| {
                        kafka_protocol::messages::describe_transactions_response::TransactionState::default()
                            .with_transactional_id(id.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        RequestBody::ConsumerGroupHeartbeat(_) => {
            Response::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse::default().with_error_code(code))
        }
        RequestBody::ConsumerGroupDescribe(r) => Response::ConsumerGroupDescribe(
            ConsumerGroupDescribeResponse::default().with_groups(
                r.group_ids
                    .iter()
                    .map(|g| {
                        kafka_protocol::messages::consumer_group_describe_response::DescribedGroup::default()
                            .with_group_id(g.clone())
                            .with_error_code(code)
                    })
                    .collect(),
            ),
        ),
        _ => return None,
    })
}
