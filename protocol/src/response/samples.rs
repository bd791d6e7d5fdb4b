//! Non-trivial responses for every served version, for the round-trip tests: several entries per
//! array, null and non-null nullable fields, every field the version has (known tagged fields
//! included), and unknown tagged fields in flexible versions.

use bytes::Bytes;
use kafka_protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::consumer_group_describe_response::{
    self as describe, ConsumerGroupDescribeResponse,
};
use kafka_protocol::messages::consumer_group_heartbeat_response::{
    self as heartbeat, ConsumerGroupHeartbeatResponse,
};
use kafka_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use kafka_protocol::messages::delete_groups_response::{DeletableGroupResult, DeleteGroupsResponse};
use kafka_protocol::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};
use kafka_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use kafka_protocol::messages::describe_transactions_response::{
    self as describe_txn, DescribeTransactionsResponse,
};
use kafka_protocol::messages::end_txn_response::EndTxnResponse;
use kafka_protocol::messages::fetch_response::{
    self, AbortedTransaction, EpochEndOffset, FetchResponse, FetchableTopicResponse, PartitionData,
    SnapshotId,
};
use kafka_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use kafka_protocol::messages::heartbeat_response::HeartbeatResponse;
use kafka_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use kafka_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use kafka_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use kafka_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::list_transactions_response::{self as list_txn, ListTransactionsResponse};
use kafka_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition,
    OffsetFetchResponsePartitions, OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, ProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use kafka_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use kafka_protocol::messages::sync_group_response::SyncGroupResponse;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, ProducerId, TransactionalId};

use crate::request::samples::{group, member_metadata, records, s, tags, topic, TOPIC_ID};

fn flexible(api_key: ApiKey, v: i16) -> bool {
    // The request header version marks flexible versions (ApiVersions' response header does not).
    api_key.request_header_version(v) >= 2
}

pub(crate) fn produce(v: i16) -> ProduceResponse {
    let flex = flexible(ApiKey::Produce, v);
    let partition = |index, error_code| {
        let mut p = PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(error_code)
            .with_base_offset(42)
            .with_log_append_time_ms(-1)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 5 {
            p = p.with_log_start_offset(3);
        }
        if v >= 8 {
            p = p
                .with_record_errors(vec![
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(1)
                        .with_batch_index_error_message(Some(s("bad timestamp")))
                        .with_unknown_tagged_fields(tags(flex)),
                    BatchIndexAndErrorMessage::default().with_batch_index(4),
                ])
                .with_error_message(Some(s("INVALID_TIMESTAMP")));
        }
        if v >= 10 {
            p = p.with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(2))
                    .with_leader_epoch(7),
            );
        }
        p
    };
    // v13 names topics by id.
    let named = |t: TopicProduceResponse, name| {
        if v >= 13 {
            t.with_topic_id(TOPIC_ID)
        } else {
            t.with_name(topic(name))
        }
    };
    let mut response = ProduceResponse::default()
        .with_responses(vec![
            named(TopicProduceResponse::default(), "orders")
                .with_partition_responses(vec![partition(0, 0), partition(1, 6)])
                .with_unknown_tagged_fields(tags(flex)),
            named(TopicProduceResponse::default(), "audit").with_partition_responses(vec![partition(2, 0)]),
        ])
        .with_throttle_time_ms(5)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 10 {
        response = response.with_node_endpoints(vec![
            NodeEndpoint::default()
                .with_node_id(BrokerId(2))
                .with_host(s("broker-2"))
                .with_port(9092)
                .with_rack(Some(s("rack-b")))
                .with_unknown_tagged_fields(tags(flex)),
            NodeEndpoint::default()
                .with_node_id(BrokerId(3))
                .with_host(s("broker-3"))
                .with_port(9093),
        ]);
    }
    response
}

pub(crate) fn fetch(v: i16) -> FetchResponse {
    let flex = flexible(ApiKey::Fetch, v);
    let partition = |index, aborted: Option<Vec<AbortedTransaction>>, records: Option<Bytes>| {
        let mut p = PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(100)
            .with_last_stable_offset(90)
            .with_aborted_transactions(aborted)
            .with_records(records)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 5 {
            p = p.with_log_start_offset(10);
        }
        if v >= 11 {
            p = p.with_preferred_read_replica(BrokerId(1));
        }
        if v >= 12 {
            p = p
                .with_diverging_epoch(EpochEndOffset::default().with_epoch(3).with_end_offset(80))
                .with_current_leader(
                    fetch_response::LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(2))
                        .with_leader_epoch(7),
                )
                .with_snapshot_id(SnapshotId::default().with_end_offset(60).with_epoch(2));
        }
        p
    };
    let aborted = vec![
        AbortedTransaction::default()
            .with_producer_id(ProducerId(7))
            .with_first_offset(50)
            .with_unknown_tagged_fields(tags(flex)),
        AbortedTransaction::default()
            .with_producer_id(ProducerId(8))
            .with_first_offset(55),
    ];
    let topic_response = if v >= 13 {
        FetchableTopicResponse::default().with_topic_id(TOPIC_ID)
    } else {
        FetchableTopicResponse::default().with_topic(topic("orders"))
    };
    let mut response = FetchResponse::default()
        .with_throttle_time_ms(1)
        .with_responses(vec![topic_response
            .with_partitions(vec![
                partition(0, Some(aborted), Some(records())),
                partition(1, None, None),
                partition(2, Some(vec![]), Some(Bytes::new())),
            ])
            .with_unknown_tagged_fields(tags(flex))])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 16 {
        response = response.with_node_endpoints(vec![fetch_response::NodeEndpoint::default()
            .with_node_id(BrokerId(2))
            .with_host(s("broker-2"))
            .with_port(9092)
            .with_rack(Some(s("rack-b")))
            .with_unknown_tagged_fields(tags(flex))]);
    }
    if v >= 7 {
        response.with_error_code(0).with_session_id(99)
    } else {
        response
    }
}

pub(crate) fn list_offsets(v: i16) -> ListOffsetsResponse {
    let flex = flexible(ApiKey::ListOffsets, v);
    let partition = |index, error_code| {
        let p = ListOffsetsPartitionResponse::default()
            .with_partition_index(index)
            .with_error_code(error_code)
            .with_timestamp(1_700_000_000_000)
            .with_offset(100)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            p.with_leader_epoch(3)
        } else {
            p
        }
    };
    let response = ListOffsetsResponse::default()
        .with_topics(vec![ListOffsetsTopicResponse::default()
            .with_name(topic("orders"))
            .with_partitions(vec![partition(0, 0), partition(1, 6)])
            .with_unknown_tagged_fields(tags(flex))])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 2 {
        response.with_throttle_time_ms(2)
    } else {
        response
    }
}

pub(crate) fn metadata(v: i16) -> MetadataResponse {
    let flex = flexible(ApiKey::Metadata, v);
    let broker = |id: i32, rack| {
        let b = MetadataResponseBroker::default()
            .with_node_id(BrokerId(id))
            .with_host(s("localhost"))
            .with_port(9092 + id)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 1 {
            b.with_rack(rack)
        } else {
            b
        }
    };
    let partition = |index| {
        let mut p = MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(BrokerId(1))
            .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
            .with_isr_nodes(vec![BrokerId(1)])
            .with_unknown_tagged_fields(tags(flex));
        if v >= 5 {
            p = p.with_offline_replicas(vec![BrokerId(2)]);
        }
        if v >= 7 {
            p = p.with_leader_epoch(4);
        }
        p
    };
    let mut orders = MetadataResponseTopic::default()
        .with_name(Some(topic("orders")))
        .with_partitions(vec![partition(0), partition(1)])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        orders = orders.with_is_internal(true);
    }
    if v >= 8 {
        orders = orders.with_topic_authorized_operations(0b1111_1000);
    }
    if v >= 10 {
        orders = orders.with_topic_id(TOPIC_ID);
    }
    let mut topics = vec![
        orders,
        MetadataResponseTopic::default()
            .with_error_code(3)
            .with_name(Some(topic("gone"))),
    ];
    if v >= 12 {
        topics.push(
            MetadataResponseTopic::default()
                .with_error_code(100)
                .with_name(None),
        );
    }
    let mut response = MetadataResponse::default()
        .with_brokers(vec![broker(1, Some(s("rack-a"))), broker(2, None)])
        .with_topics(topics)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response = response.with_controller_id(BrokerId(1));
    }
    if v >= 2 {
        response = response.with_cluster_id(Some(s("kafkit-cluster")));
    }
    if v >= 3 {
        response = response.with_throttle_time_ms(3);
    }
    if (8..=10).contains(&v) {
        response = response.with_cluster_authorized_operations(0b1000);
    }
    if v >= 13 {
        response = response.with_error_code(0);
    }
    response
}

pub(crate) fn find_coordinator(v: i16) -> FindCoordinatorResponse {
    let flex = flexible(ApiKey::FindCoordinator, v);
    let mut response = FindCoordinatorResponse::default().with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response = response.with_throttle_time_ms(4);
    }
    if v <= 3 {
        response = response
            .with_node_id(BrokerId(1))
            .with_host(s("localhost"))
            .with_port(9092);
    }
    if (1..=3).contains(&v) {
        response = response.with_error_message(None);
    }
    if v >= 4 {
        response = response.with_coordinators(vec![
            Coordinator::default()
                .with_key(s("txn-1"))
                .with_node_id(BrokerId(1))
                .with_host(s("localhost"))
                .with_port(9092)
                .with_error_message(None)
                .with_unknown_tagged_fields(tags(flex)),
            Coordinator::default()
                .with_key(s("txn-2"))
                .with_node_id(BrokerId(-1))
                .with_error_code(15)
                .with_error_message(Some(s("COORDINATOR_NOT_AVAILABLE"))),
        ]);
    }
    response
}

pub(crate) fn api_versions(v: i16) -> ApiVersionsResponse {
    let flex = flexible(ApiKey::ApiVersions, v);
    let api = |api_key, min_version, max_version| {
        ApiVersion::default()
            .with_api_key(api_key)
            .with_min_version(min_version)
            .with_max_version(max_version)
            .with_unknown_tagged_fields(tags(flex))
    };
    let mut response = ApiVersionsResponse::default()
        .with_api_keys(vec![api(0, 3, 11), api(18, 0, 4)])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response = response.with_throttle_time_ms(6);
    }
    if v >= 3 {
        response = response
            .with_supported_features(vec![SupportedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_min_version(1)
                .with_max_version(25)
                .with_unknown_tagged_fields(tags(flex))])
            .with_finalized_features_epoch(12)
            .with_finalized_features(vec![FinalizedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_max_version_level(25)
                .with_min_version_level(25)])
            .with_zk_migration_ready(true);
    }
    response
}

pub(crate) fn create_topics(v: i16) -> CreateTopicsResponse {
    let flex = flexible(ApiKey::CreateTopics, v);
    let mut created = CreatableTopicResult::default()
        .with_name(topic("orders"))
        .with_error_message(None)
        .with_unknown_tagged_fields(tags(flex));
    let mut failed = CreatableTopicResult::default()
        .with_name(topic("audit"))
        .with_error_code(36)
        .with_error_message(Some(s("Topic 'audit' already exists.")));
    if v >= 5 {
        created = created
            .with_num_partitions(3)
            .with_replication_factor(1)
            .with_topic_config_error_code(29)
            .with_configs(Some(vec![
                CreatableTopicConfigs::default()
                    .with_name(s("cleanup.policy"))
                    .with_value(Some(s("delete")))
                    .with_config_source(5)
                    .with_unknown_tagged_fields(tags(flex)),
                CreatableTopicConfigs::default()
                    .with_name(s("sasl.secret"))
                    .with_value(None)
                    .with_read_only(true)
                    .with_is_sensitive(true),
            ]));
        failed = failed.with_configs(None);
    }
    if v >= 7 {
        created = created.with_topic_id(TOPIC_ID);
    }
    CreateTopicsResponse::default()
        .with_throttle_time_ms(7)
        .with_topics(vec![created, failed])
        .with_unknown_tagged_fields(tags(flex))
}

pub(crate) fn delete_topics(v: i16) -> DeleteTopicsResponse {
    let flex = flexible(ApiKey::DeleteTopics, v);
    let mut deleted = DeletableTopicResult::default()
        .with_name(Some(topic("orders")))
        .with_unknown_tagged_fields(tags(flex));
    let mut unknown = DeletableTopicResult::default()
        .with_name(Some(topic("audit")))
        .with_error_code(3);
    if v >= 5 {
        unknown = unknown.with_error_message(Some(s("UNKNOWN_TOPIC_OR_PARTITION")));
    }
    if v >= 6 {
        deleted = deleted.with_topic_id(TOPIC_ID);
    }
    let mut responses = vec![deleted, unknown];
    if v >= 6 {
        // Deleted by id: no name.
        responses.push(
            DeletableTopicResult::default()
                .with_topic_id(TOPIC_ID)
                .with_error_code(100),
        );
    }
    DeleteTopicsResponse::default()
        .with_throttle_time_ms(8)
        .with_responses(responses)
        .with_unknown_tagged_fields(tags(flex))
}

pub(crate) fn init_producer_id(v: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_throttle_time_ms(9)
        .with_error_code(if v == 0 { 0 } else { 47 })
        .with_producer_id(ProducerId(1234))
        .with_producer_epoch(5)
        .with_unknown_tagged_fields(tags(flexible(ApiKey::InitProducerId, v)))
}

pub(crate) fn create_partitions(v: i16) -> CreatePartitionsResponse {
    let flex = flexible(ApiKey::CreatePartitions, v);
    CreatePartitionsResponse::default()
        .with_throttle_time_ms(3)
        .with_results(vec![
            CreatePartitionsTopicResult::default()
                .with_name(topic("orders"))
                .with_unknown_tagged_fields(tags(flex)),
            CreatePartitionsTopicResult::default()
                .with_name(topic("audit"))
                .with_error_code(37)
                .with_error_message(Some(s("Topic already has 4 partitions."))),
        ])
        .with_unknown_tagged_fields(tags(flex))
}

pub(crate) fn offset_commit(v: i16) -> OffsetCommitResponse {
    let flex = flexible(ApiKey::OffsetCommit, v);
    let partition = |index, error_code| {
        OffsetCommitResponsePartition::default()
            .with_partition_index(index)
            .with_error_code(error_code)
            .with_unknown_tagged_fields(tags(flex))
    };
    let response = OffsetCommitResponse::default()
        .with_topics(vec![
            OffsetCommitResponseTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition(0, 0), partition(3, 12)])
                .with_unknown_tagged_fields(tags(flex)),
            OffsetCommitResponseTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(1, 22)]),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        response.with_throttle_time_ms(4)
    } else {
        response
    }
}

pub(crate) fn offset_fetch(v: i16) -> OffsetFetchResponse {
    let flex = flexible(ApiKey::OffsetFetch, v);
    let mut response = OffsetFetchResponse::default().with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        response = response.with_throttle_time_ms(5);
    }
    if v <= 7 {
        let partition = |index, offset, metadata, error_code| {
            let p = OffsetFetchResponsePartition::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_metadata(metadata)
                .with_error_code(error_code)
                .with_unknown_tagged_fields(tags(flex));
            if v >= 5 {
                p.with_committed_leader_epoch(4)
            } else {
                p
            }
        };
        response = response.with_topics(vec![
            OffsetFetchResponseTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    partition(0, 1_000, Some(s("checkpoint")), 0),
                    partition(1, -1, None, 0),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            OffsetFetchResponseTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(2, -1, Some(s("")), 3)]),
        ]);
    } else {
        let partition = |index, offset, metadata, error_code| {
            OffsetFetchResponsePartitions::default()
                .with_partition_index(index)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(4)
                .with_metadata(metadata)
                .with_error_code(error_code)
                .with_unknown_tagged_fields(tags(flex))
        };
        response = response.with_groups(vec![
            OffsetFetchResponseGroup::default()
                .with_group_id(group("group-1"))
                .with_topics(vec![
                    OffsetFetchResponseTopics::default()
                        .with_name(topic("orders"))
                        .with_partitions(vec![
                            partition(0, 1_000, Some(s("checkpoint")), 0),
                            partition(1, -1, None, 0),
                        ])
                        .with_unknown_tagged_fields(tags(flex)),
                    OffsetFetchResponseTopics::default()
                        .with_name(topic("audit"))
                        .with_partitions(vec![partition(2, -1, Some(s("")), 3)]),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            OffsetFetchResponseGroup::default()
                .with_group_id(group("group-2"))
                .with_error_code(16),
        ]);
    }
    if (2..=7).contains(&v) {
        response = response.with_error_code(14);
    }
    response
}

pub(crate) fn join_group(v: i16) -> JoinGroupResponse {
    let flex = flexible(ApiKey::JoinGroup, v);
    let member = |id, instance: Option<&'static str>, metadata| {
        let m = JoinGroupResponseMember::default()
            .with_member_id(s(id))
            .with_metadata(metadata)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 5 {
            m.with_group_instance_id(instance.map(s))
        } else {
            m
        }
    };
    let mut response = JoinGroupResponse::default()
        .with_error_code(if v % 2 == 0 { 0 } else { 79 })
        .with_generation_id(7)
        // Nullable from v7: null in v8.
        .with_protocol_name((v != 8).then(|| s("range")))
        .with_leader(s("consumer-1-5f0c"))
        .with_member_id(s("consumer-1-5f0c"))
        .with_members(vec![
            member("consumer-1-5f0c", Some("instance-1"), member_metadata()),
            member("consumer-2-77aa", None, Bytes::new()),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 2 {
        response = response.with_throttle_time_ms(6);
    }
    if v >= 7 {
        response = response.with_protocol_type((v != 8).then(|| s("consumer")));
    }
    if v >= 9 {
        response = response.with_skip_assignment(true);
    }
    response
}

pub(crate) fn heartbeat(v: i16) -> HeartbeatResponse {
    let response = HeartbeatResponse::default()
        .with_error_code(27)
        .with_unknown_tagged_fields(tags(flexible(ApiKey::Heartbeat, v)));
    if v >= 1 {
        response.with_throttle_time_ms(7)
    } else {
        response
    }
}

pub(crate) fn leave_group(v: i16) -> LeaveGroupResponse {
    let flex = flexible(ApiKey::LeaveGroup, v);
    let mut response = LeaveGroupResponse::default().with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response = response.with_throttle_time_ms(8);
    }
    if v <= 2 {
        return response.with_error_code(25);
    }
    response.with_members(vec![
        MemberResponse::default()
            .with_member_id(s("consumer-1-5f0c"))
            .with_group_instance_id(Some(s("instance-1")))
            .with_unknown_tagged_fields(tags(flex)),
        MemberResponse::default()
            .with_member_id(s(""))
            .with_group_instance_id(None)
            .with_error_code(25),
    ])
}

pub(crate) fn sync_group(v: i16) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default()
        .with_error_code(if v % 2 == 0 { 0 } else { 27 })
        .with_assignment(member_metadata())
        .with_unknown_tagged_fields(tags(flexible(ApiKey::SyncGroup, v)));
    if v >= 1 {
        response = response.with_throttle_time_ms(9);
    }
    if v >= 5 {
        response = response
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")));
    }
    response
}

pub(crate) fn describe_groups(v: i16) -> DescribeGroupsResponse {
    let flex = flexible(ApiKey::DescribeGroups, v);
    let member = |id, instance: Option<&'static str>, client_id| {
        let m = DescribedGroupMember::default()
            .with_member_id(s(id))
            .with_client_id(s(client_id))
            .with_client_host(s("/10.0.0.7"))
            .with_member_metadata(member_metadata())
            .with_member_assignment(Bytes::from_static(b"\x00\x03 opaque assignment"))
            .with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            m.with_group_instance_id(instance.map(s))
        } else {
            m
        }
    };
    let mut stable = DescribedGroup::default()
        .with_group_id(group("group-1"))
        .with_group_state(s("Stable"))
        .with_protocol_type(s("consumer"))
        .with_protocol_data(s("range"))
        .with_members(vec![
            member("consumer-1-5f0c", Some("instance-1"), "client-1"),
            member("consumer-2-77aa", None, "client-2"),
        ])
        .with_unknown_tagged_fields(tags(flex));
    let mut dead = DescribedGroup::default()
        .with_error_code(69)
        .with_group_id(group("group-2"))
        .with_group_state(s("Dead"));
    if v >= 3 {
        stable = stable.with_authorized_operations(0b1111_1000);
        dead = dead.with_authorized_operations(0);
    }
    if v >= 6 {
        stable = stable.with_error_message(None);
        dead = dead.with_error_message(Some(s("Group group-2 not found.")));
    }
    let response = DescribeGroupsResponse::default()
        .with_groups(vec![stable, dead])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response.with_throttle_time_ms(10)
    } else {
        response
    }
}

pub(crate) fn list_groups(v: i16) -> ListGroupsResponse {
    let flex = flexible(ApiKey::ListGroups, v);
    let listed = |id, protocol_type, state, group_type| {
        let mut g = ListedGroup::default()
            .with_group_id(group(id))
            .with_protocol_type(s(protocol_type))
            .with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            g = g.with_group_state(s(state));
        }
        if v >= 5 {
            g = g.with_group_type(s(group_type));
        }
        g
    };
    let response = ListGroupsResponse::default()
        .with_error_code(if v % 2 == 0 { 0 } else { 15 })
        .with_groups(vec![
            listed("group-1", "consumer", "Stable", "classic"),
            listed("group-2", "", "Empty", "consumer"),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        response.with_throttle_time_ms(11)
    } else {
        response
    }
}

pub(crate) fn delete_groups(v: i16) -> DeleteGroupsResponse {
    let flex = flexible(ApiKey::DeleteGroups, v);
    DeleteGroupsResponse::default()
        .with_throttle_time_ms(12)
        .with_results(vec![
            DeletableGroupResult::default()
                .with_group_id(group("group-1"))
                .with_unknown_tagged_fields(tags(flex)),
            DeletableGroupResult::default()
                .with_group_id(group("group-2"))
                .with_error_code(68),
        ])
        .with_unknown_tagged_fields(tags(flex))
}

pub(crate) fn offset_delete(_v: i16) -> OffsetDeleteResponse {
    let partition = |index, error_code| {
        OffsetDeleteResponsePartition::default()
            .with_partition_index(index)
            .with_error_code(error_code)
    };
    OffsetDeleteResponse::default()
        .with_error_code(0)
        .with_throttle_time_ms(13)
        .with_topics(vec![
            OffsetDeleteResponseTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition(0, 0), partition(2, 86)]),
            OffsetDeleteResponseTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(1, 3)]),
        ])
}

pub(crate) fn consumer_group_heartbeat(_v: i16) -> ConsumerGroupHeartbeatResponse {
    let owned = |partitions: Vec<i32>| {
        heartbeat::TopicPartitions::default()
            .with_topic_id(TOPIC_ID)
            .with_partitions(partitions)
            .with_unknown_tagged_fields(tags(true))
    };
    ConsumerGroupHeartbeatResponse::default()
        .with_throttle_time_ms(13)
        .with_error_code(0)
        .with_error_message(Some(s("no error, but a message")))
        .with_member_id(Some(s("rBSm0z3zQG2bbI9v0vL2Xw")))
        .with_member_epoch(4)
        .with_heartbeat_interval_ms(5000)
        .with_assignment(Some(
            heartbeat::Assignment::default()
                .with_topic_partitions(vec![owned(vec![0, 1]), owned(vec![])])
                .with_unknown_tagged_fields(tags(true)),
        ))
        .with_unknown_tagged_fields(tags(true))
}

/// A heartbeat answer without an assignment (the null struct) and with an error.
pub(crate) fn consumer_group_heartbeat_error(_v: i16) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(110)
        .with_error_message(Some(s("fenced")))
        .with_member_id(None)
        .with_member_epoch(-1)
        .with_assignment(None)
}

pub(crate) fn consumer_group_describe(v: i16) -> ConsumerGroupDescribeResponse {
    let assignment = |partitions: Vec<i32>| {
        describe::Assignment::default()
            .with_topic_partitions(vec![describe::TopicPartitions::default()
                .with_topic_id(TOPIC_ID)
                .with_topic_name(topic("orders"))
                .with_partitions(partitions)
                .with_unknown_tagged_fields(tags(true))])
            .with_unknown_tagged_fields(tags(true))
    };
    let member = describe::Member::default()
        .with_member_id(s("rBSm0z3zQG2bbI9v0vL2Xw"))
        .with_instance_id(Some(s("instance-1")))
        .with_rack_id(None)
        .with_member_epoch(4)
        .with_client_id(s("client-1"))
        .with_client_host(s("/127.0.0.1"))
        .with_subscribed_topic_names(vec![topic("orders")])
        .with_subscribed_topic_regex(None)
        .with_assignment(assignment(vec![0]))
        .with_target_assignment(assignment(vec![0, 1]))
        .with_member_type(if v >= 1 { 1 } else { -1 })
        .with_unknown_tagged_fields(tags(true));
    ConsumerGroupDescribeResponse::default()
        .with_throttle_time_ms(13)
        .with_groups(vec![
            describe::DescribedGroup::default()
                .with_group_id(group("group-1"))
                .with_group_state(s("Reconciling"))
                .with_group_epoch(5)
                .with_assignment_epoch(5)
                .with_assignor_name(s("uniform"))
                .with_members(vec![member])
                .with_authorized_operations(i32::MIN)
                .with_unknown_tagged_fields(tags(true)),
            describe::DescribedGroup::default()
                .with_error_code(69)
                .with_error_message(Some(s("Group group-2 not found.")))
                .with_group_id(group("group-2"))
                .with_group_state(s("Dead"))
                .with_assignor_name(s("")),
        ])
        .with_unknown_tagged_fields(tags(true))
}

pub(crate) fn add_partitions_to_txn(v: i16) -> AddPartitionsToTxnResponse {
    let flex = flexible(ApiKey::AddPartitionsToTxn, v);
    let topics = || {
        vec![
            AddPartitionsToTxnTopicResult::default()
                .with_name(topic("orders"))
                .with_results_by_partition(vec![
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(0)
                        .with_unknown_tagged_fields(tags(flex)),
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(2)
                        .with_partition_error_code(51),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            AddPartitionsToTxnTopicResult::default().with_name(topic("audit")),
        ]
    };
    let response = AddPartitionsToTxnResponse::default()
        .with_throttle_time_ms(13)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 4 {
        response.with_error_code(0).with_results_by_transaction(vec![
            AddPartitionsToTxnResult::default()
                .with_transactional_id(TransactionalId(s("txn-1")))
                .with_topic_results(topics())
                .with_unknown_tagged_fields(tags(flex)),
            AddPartitionsToTxnResult::default().with_transactional_id(TransactionalId(s("txn-2"))),
        ])
    } else {
        response.with_results_by_topic_v3_and_below(topics())
    }
}

pub(crate) fn end_txn(v: i16) -> EndTxnResponse {
    let flex = flexible(ApiKey::EndTxn, v);
    let response = EndTxnResponse::default()
        .with_throttle_time_ms(13)
        .with_error_code(48)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 5 {
        response.with_producer_id(ProducerId(4000)).with_producer_epoch(4)
    } else {
        response
    }
}

pub(crate) fn add_offsets_to_txn(v: i16) -> AddOffsetsToTxnResponse {
    AddOffsetsToTxnResponse::default()
        .with_throttle_time_ms(13)
        .with_error_code(51)
        .with_unknown_tagged_fields(tags(flexible(ApiKey::AddOffsetsToTxn, v)))
}

pub(crate) fn txn_offset_commit(v: i16) -> TxnOffsetCommitResponse {
    let flex = flexible(ApiKey::TxnOffsetCommit, v);
    TxnOffsetCommitResponse::default()
        .with_throttle_time_ms(13)
        .with_topics(vec![
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(0)
                        .with_unknown_tagged_fields(tags(flex)),
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(1)
                        .with_error_code(22),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            TxnOffsetCommitResponseTopic::default().with_name(topic("audit")),
        ])
        .with_unknown_tagged_fields(tags(flex))
}

pub(crate) fn describe_transactions(_v: i16) -> DescribeTransactionsResponse {
    DescribeTransactionsResponse::default()
        .with_throttle_time_ms(13)
        .with_transaction_states(vec![
            describe_txn::TransactionState::default()
                .with_transactional_id(TransactionalId(s("txn-1")))
                .with_transaction_state(s("Ongoing"))
                .with_transaction_timeout_ms(60_000)
                .with_transaction_start_time_ms(1_700_000_000_000)
                .with_producer_id(ProducerId(4000))
                .with_producer_epoch(3)
                .with_topics(vec![describe_txn::TopicData::default()
                    .with_topic(topic("orders"))
                    .with_partitions(vec![0, 2])
                    .with_unknown_tagged_fields(tags(true))])
                .with_unknown_tagged_fields(tags(true)),
            describe_txn::TransactionState::default()
                .with_error_code(105)
                .with_transactional_id(TransactionalId(s("txn-2")))
                .with_transaction_state(s("")),
        ])
        .with_unknown_tagged_fields(tags(true))
}

pub(crate) fn list_transactions(_v: i16) -> ListTransactionsResponse {
    ListTransactionsResponse::default()
        .with_throttle_time_ms(13)
        .with_unknown_state_filters(vec![s("Bogus")])
        .with_transaction_states(vec![list_txn::TransactionState::default()
            .with_transactional_id(TransactionalId(s("txn-1")))
            .with_producer_id(ProducerId(4000))
            .with_transaction_state(s("Ongoing"))
            .with_unknown_tagged_fields(tags(true))])
        .with_unknown_tagged_fields(tags(true))
}

pub(crate) fn sasl_handshake(_v: i16) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default()
        .with_error_code(33)
        .with_mechanisms(vec![s("PLAIN"), s("SCRAM-SHA-512")])
}

pub(crate) fn sasl_authenticate(v: i16) -> SaslAuthenticateResponse {
    let flex = v >= 2;
    SaslAuthenticateResponse::default()
        .with_error_code(58)
        .with_error_message(Some(s("Authentication failed: Invalid username or password")))
        .with_auth_bytes(Bytes::from_static(b"v=abc"))
        .with_session_lifetime_ms(if v >= 1 { 3_600_000 } else { 0 })
        .with_unknown_tagged_fields(tags(flex))
}
