//! Non-trivial requests for every served version, for the round-trip tests: several topics and
//! partitions, records, null and non-null nullable fields, every field the version has, and an
//! unknown tagged field at each level that can carry one in flexible versions.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::api_versions_request::ApiVersionsRequest;
use kafka_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use kafka_protocol::messages::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions as HeartbeatTopicPartitions,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use kafka_protocol::messages::end_txn_request::EndTxnRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::list_transactions_request::ListTransactionsRequest;
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use kafka_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use kafka_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, GroupId, ProducerId, TopicName, TransactionalId};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestBody;

pub(crate) fn s(value: &'static str) -> StrBytes {
    StrBytes::from_static_str(value)
}

pub(crate) fn topic(name: &'static str) -> TopicName {
    TopicName(s(name))
}

pub(crate) fn group(id: &'static str) -> GroupId {
    GroupId(s(id))
}

/// Stand-ins for a consumer protocol's subscription and assignment; opaque to the broker.
pub(crate) fn member_metadata() -> Bytes {
    Bytes::from_static(b"\x00\x03\x00\x00\x00\x01\x00\x06orders opaque subscription")
}

pub(crate) const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

/// Bytes standing in for a record batch; the crate treats records as opaque.
pub(crate) fn records() -> Bytes {
    Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00 not really a batch, opaque bytes")
}

/// One unknown tagged field in flexible versions, none otherwise.
pub(crate) fn tags(flexible: bool) -> BTreeMap<i32, Bytes> {
    let mut tags = BTreeMap::new();
    if flexible {
        tags.insert(42, Bytes::from_static(b"future"));
    }
    tags
}

/// A request of `api_key` at `version` with every field that version carries filled in.
pub(crate) fn request(api_key: ApiKey, v: i16) -> RequestBody {
    let flex = api_key.request_header_version(v) >= 2;
    match api_key {
        ApiKey::Produce => RequestBody::Produce(produce(v, flex)),
        ApiKey::Fetch => RequestBody::Fetch(fetch(v, flex)),
        ApiKey::ListOffsets => RequestBody::ListOffsets(list_offsets(v, flex)),
        ApiKey::Metadata => RequestBody::Metadata(metadata(v, flex)),
        ApiKey::OffsetCommit => RequestBody::OffsetCommit(offset_commit(v, flex)),
        ApiKey::OffsetFetch => RequestBody::OffsetFetch(offset_fetch(v, flex)),
        ApiKey::FindCoordinator => RequestBody::FindCoordinator(find_coordinator(v, flex)),
        ApiKey::JoinGroup => RequestBody::JoinGroup(join_group(v, flex)),
        ApiKey::Heartbeat => RequestBody::Heartbeat(heartbeat(v, flex)),
        ApiKey::LeaveGroup => RequestBody::LeaveGroup(leave_group(v, flex)),
        ApiKey::SyncGroup => RequestBody::SyncGroup(sync_group(v, flex)),
        ApiKey::DescribeGroups => RequestBody::DescribeGroups(describe_groups(v, flex)),
        ApiKey::ListGroups => RequestBody::ListGroups(list_groups(v, flex)),
        ApiKey::ApiVersions => RequestBody::ApiVersions(api_versions(v, flex)),
        ApiKey::CreateTopics => RequestBody::CreateTopics(create_topics(flex)),
        ApiKey::DeleteTopics => RequestBody::DeleteTopics(delete_topics(v, flex)),
        ApiKey::InitProducerId => RequestBody::InitProducerId(init_producer_id(v, flex)),
        ApiKey::AddPartitionsToTxn => RequestBody::AddPartitionsToTxn(add_partitions_to_txn(v, flex)),
        ApiKey::EndTxn => RequestBody::EndTxn(end_txn(flex)),
        ApiKey::AddOffsetsToTxn => RequestBody::AddOffsetsToTxn(add_offsets_to_txn(flex)),
        ApiKey::TxnOffsetCommit => RequestBody::TxnOffsetCommit(txn_offset_commit(v, flex)),
        ApiKey::CreatePartitions => RequestBody::CreatePartitions(create_partitions(flex)),
        ApiKey::DeleteGroups => RequestBody::DeleteGroups(delete_groups(flex)),
        ApiKey::OffsetDelete => RequestBody::OffsetDelete(offset_delete()),
        ApiKey::SaslHandshake => {
            RequestBody::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512")))
        }
        ApiKey::SaslAuthenticate => RequestBody::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from_static(b"n,,n=alice,r=abc"))
                .with_unknown_tagged_fields(tags(flex)),
        ),
        ApiKey::DescribeTransactions => RequestBody::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("txn-1")), TransactionalId(s("txn-2"))])
                .with_unknown_tagged_fields(tags(true)),
        ),
        ApiKey::ListTransactions => RequestBody::ListTransactions(list_transactions(v)),
        ApiKey::ConsumerGroupHeartbeat => RequestBody::ConsumerGroupHeartbeat(consumer_group_heartbeat(v)),
        ApiKey::ConsumerGroupDescribe => RequestBody::ConsumerGroupDescribe(consumer_group_describe()),
        other => panic!("no sample for {other:?}"),
    }
}

fn produce(v: i16, flex: bool) -> ProduceRequest {
    let partition = |index, records| {
        PartitionProduceData::default()
            .with_index(index)
            .with_records(records)
            .with_unknown_tagged_fields(tags(flex))
    };
    // v13 names topics by id.
    let named = |data: TopicProduceData, name| {
        if v >= 13 {
            data.with_topic_id(TOPIC_ID)
        } else {
            data.with_name(topic(name))
        }
    };
    ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s("txn-1"))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            named(TopicProduceData::default(), "orders")
                .with_partition_data(vec![partition(0, Some(records())), partition(3, None)])
                .with_unknown_tagged_fields(tags(flex)),
            named(TopicProduceData::default(), "audit")
                .with_partition_data(vec![partition(1, Some(Bytes::new()))]),
        ])
        .with_unknown_tagged_fields(tags(flex))
}

fn fetch(v: i16, flex: bool) -> FetchRequest {
    let partition = |index| {
        let mut p = FetchPartition::default()
            .with_partition(index)
            .with_fetch_offset(1_000 + i64::from(index))
            .with_partition_max_bytes(1 << 20)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 5 {
            p = p.with_log_start_offset(7);
        }
        if v >= 9 {
            p = p.with_current_leader_epoch(5);
        }
        if v >= 12 {
            p = p.with_last_fetched_epoch(4);
        }
        if v >= 17 {
            p = p.with_replica_directory_id(TOPIC_ID);
        }
        if v >= 18 {
            p = p.with_high_watermark(99);
        }
        p
    };
    // v13 names topics by id.
    let named = |t: FetchTopic, name| {
        if v >= 13 {
            t.with_topic_id(TOPIC_ID)
        } else {
            t.with_topic(topic(name))
        }
    };
    let mut request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(1)
        .with_topics(vec![
            named(FetchTopic::default(), "orders")
                .with_partitions(vec![partition(0), partition(4)])
                .with_unknown_tagged_fields(tags(flex)),
            named(FetchTopic::default(), "audit").with_partitions(vec![partition(1)]),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 7 {
        request = request
            .with_session_id(12)
            .with_session_epoch(3)
            .with_forgotten_topics_data(vec![if v >= 13 {
                ForgottenTopic::default().with_topic_id(TOPIC_ID)
            } else {
                ForgottenTopic::default().with_topic(topic("old"))
            }
            .with_partitions(vec![1, 2, 3])
            .with_unknown_tagged_fields(tags(flex))]);
    }
    if v >= 11 {
        request = request.with_rack_id(s("rack-a"));
    }
    if v >= 12 {
        request = request.with_cluster_id(Some(s("cluster-x")));
    }
    if v >= 15 {
        request = request.with_replica_state(
            kafka_protocol::messages::fetch_request::ReplicaState::default()
                .with_replica_id(BrokerId(3))
                .with_replica_epoch(8),
        );
    }
    request
}

fn list_offsets(v: i16, flex: bool) -> ListOffsetsRequest {
    let partition = |index, timestamp| {
        let p = ListOffsetsPartition::default()
            .with_partition_index(index)
            .with_timestamp(timestamp)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 4 {
            p.with_current_leader_epoch(3)
        } else {
            p
        }
    };
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic("orders"))
            .with_partitions(vec![partition(0, -1), partition(1, 1_700_000_000_000)])
            .with_unknown_tagged_fields(tags(flex))])
        .with_unknown_tagged_fields(tags(flex));
    let request = if v >= 2 {
        request.with_isolation_level(1)
    } else {
        request
    };
    if v >= 10 {
        request.with_timeout_ms(2_500)
    } else {
        request
    }
}

fn metadata(v: i16, flex: bool) -> MetadataRequest {
    let named = |name| {
        let t = MetadataRequestTopic::default()
            .with_name(Some(topic(name)))
            .with_unknown_tagged_fields(tags(flex));
        if v >= 10 {
            t.with_topic_id(TOPIC_ID)
        } else {
            t
        }
    };
    let mut topics = vec![named("orders"), named("audit")];
    if v >= 10 {
        topics.push(
            MetadataRequestTopic::default()
                .with_name(None)
                .with_topic_id(TOPIC_ID),
        );
    }
    let mut request = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_unknown_tagged_fields(tags(flex));
    if v >= 4 {
        request = request.with_allow_auto_topic_creation(false);
    }
    if (8..=10).contains(&v) {
        request = request.with_include_cluster_authorized_operations(true);
    }
    if v >= 8 {
        request = request.with_include_topic_authorized_operations(true);
    }
    request
}

fn find_coordinator(v: i16, flex: bool) -> FindCoordinatorRequest {
    let mut request = FindCoordinatorRequest::default().with_unknown_tagged_fields(tags(flex));
    if v <= 3 {
        request = request.with_key(s("group-1"));
    }
    if v >= 1 {
        request = request.with_key_type(1);
    }
    if v >= 4 {
        request = request.with_coordinator_keys(vec![s("txn-1"), s("txn-2")]);
    }
    request
}

fn api_versions(v: i16, flex: bool) -> ApiVersionsRequest {
    let request = ApiVersionsRequest::default().with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request
            .with_client_software_name(s("kafkit"))
            .with_client_software_version(s("0.1.0"))
    } else {
        request
    }
}

fn create_topics(flex: bool) -> CreateTopicsRequest {
    let config = |name, value| {
        CreatableTopicConfig::default()
            .with_name(s(name))
            .with_value(value)
            .with_unknown_tagged_fields(tags(flex))
    };
    CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic("orders"))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(1), BrokerId(2)])
                    .with_unknown_tagged_fields(tags(flex))])
                .with_configs(vec![
                    config("cleanup.policy", Some(s("compact"))),
                    config("retention.ms", None),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            CreatableTopic::default()
                .with_name(topic("audit"))
                .with_num_partitions(3)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(30_000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(tags(flex))
}

fn delete_topics(v: i16, flex: bool) -> DeleteTopicsRequest {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(15_000)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 6 {
        request.with_topics(vec![
            DeleteTopicState::default()
                .with_name(Some(topic("orders")))
                .with_unknown_tagged_fields(tags(flex)),
            DeleteTopicState::default().with_topic_id(TOPIC_ID),
        ])
    } else {
        request.with_topic_names(vec![topic("orders"), topic("audit")])
    }
}

fn init_producer_id(v: i16, flex: bool) -> InitProducerIdRequest {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(if v % 2 == 0 {
            Some(TransactionalId(s("txn-1")))
        } else {
            None
        })
        .with_transaction_timeout_ms(60_000)
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request.with_producer_id(ProducerId(1234)).with_producer_epoch(5)
    } else {
        request
    }
}

fn create_partitions(flex: bool) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic("orders"))
                .with_count(6)
                .with_unknown_tagged_fields(tags(flex)),
            CreatePartitionsTopic::default()
                .with_name(topic("audit"))
                .with_count(4)
                .with_assignments(Some(vec![CreatePartitionsAssignment::default()
                    .with_broker_ids(vec![BrokerId(0), BrokerId(2)])
                    .with_unknown_tagged_fields(tags(flex))])),
        ])
        .with_timeout_ms(30_000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(tags(flex))
}

fn offset_commit(v: i16, flex: bool) -> OffsetCommitRequest {
    let partition = |index, offset, metadata| {
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(index)
            .with_committed_offset(offset)
            .with_committed_metadata(metadata)
            .with_unknown_tagged_fields(tags(flex));
        if v >= 6 {
            p.with_committed_leader_epoch(4)
        } else {
            p
        }
    };
    let mut request = OffsetCommitRequest::default()
        .with_group_id(group("group-1"))
        .with_generation_id_or_member_epoch(3)
        .with_member_id(s("consumer-1-5f0c"))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    partition(0, 1_000, Some(s("checkpoint"))),
                    partition(3, 0, None),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            OffsetCommitRequestTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(1, 42, Some(s("")))]),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v <= 4 {
        request = request.with_retention_time_ms(86_400_000);
    }
    if v >= 7 {
        // A static member in v7 and v9, a dynamic one (null instance id) in v8.
        request = request.with_group_instance_id((v != 8).then(|| s("instance-1")));
    }
    request
}

fn offset_fetch(v: i16, flex: bool) -> OffsetFetchRequest {
    let mut request = OffsetFetchRequest::default().with_unknown_tagged_fields(tags(flex));
    if v <= 7 {
        let topic_entry = |name, partitions| {
            OffsetFetchRequestTopic::default()
                .with_name(topic(name))
                .with_partition_indexes(partitions)
                .with_unknown_tagged_fields(tags(flex))
        };
        // Null topics (every committed offset of the group) from v2; v4 and v7 ask so.
        let topics = (v < 2 || (v != 4 && v != 7))
            .then(|| vec![topic_entry("orders", vec![0, 1, 2]), topic_entry("audit", vec![])]);
        request = request.with_group_id(group("group-1")).with_topics(topics);
    } else {
        let topics_entry = |name, partitions| {
            OffsetFetchRequestTopics::default()
                .with_name(topic(name))
                .with_partition_indexes(partitions)
                .with_unknown_tagged_fields(tags(flex))
        };
        let mut first = OffsetFetchRequestGroup::default()
            .with_group_id(group("group-1"))
            .with_topics(Some(vec![
                topics_entry("orders", vec![0, 1, 2]),
                topics_entry("audit", vec![4]),
            ]))
            .with_unknown_tagged_fields(tags(flex));
        let mut second = OffsetFetchRequestGroup::default()
            .with_group_id(group("group-2"))
            .with_topics(None);
        if v >= 9 {
            first = first
                .with_member_id(Some(s("consumer-1-5f0c")))
                .with_member_epoch(12);
            second = second.with_member_id(None).with_member_epoch(-1);
        }
        request = request.with_groups(vec![first, second]);
    }
    if v >= 7 {
        request = request.with_require_stable(true);
    }
    request
}

fn join_group(v: i16, flex: bool) -> JoinGroupRequest {
    let mut request = JoinGroupRequest::default()
        .with_group_id(group("group-1"))
        .with_session_timeout_ms(45_000)
        .with_member_id(s("consumer-1-5f0c"))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(member_metadata())
                .with_unknown_tagged_fields(tags(flex)),
            JoinGroupRequestProtocol::default()
                .with_name(s("cooperative-sticky"))
                .with_metadata(Bytes::new()),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 1 {
        request = request.with_rebalance_timeout_ms(300_000);
    }
    if v >= 5 {
        // Static in odd versions, dynamic (null instance id) in even ones.
        request = request.with_group_instance_id((v % 2 == 1).then(|| s("instance-1")));
    }
    if v >= 8 {
        request = request.with_reason((v == 8).then(|| s("rebalance: metadata changed")));
    }
    request
}

fn heartbeat(v: i16, flex: bool) -> HeartbeatRequest {
    let request = HeartbeatRequest::default()
        .with_group_id(group("group-1"))
        .with_generation_id(7)
        .with_member_id(s("consumer-1-5f0c"))
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request.with_group_instance_id((v == 4).then(|| s("instance-1")))
    } else {
        request
    }
}

fn leave_group(v: i16, flex: bool) -> LeaveGroupRequest {
    let request = LeaveGroupRequest::default()
        .with_group_id(group("group-1"))
        .with_unknown_tagged_fields(tags(flex));
    if v <= 2 {
        return request.with_member_id(s("consumer-1-5f0c"));
    }
    let mut leaving = MemberIdentity::default()
        .with_member_id(s("consumer-1-5f0c"))
        .with_group_instance_id(Some(s("instance-1")))
        .with_unknown_tagged_fields(tags(flex));
    if v >= 5 {
        leaving = leaving.with_reason(Some(s("the consumer is being closed")));
    }
    request.with_members(vec![
        leaving,
        MemberIdentity::default()
            .with_member_id(s(""))
            .with_group_instance_id(None),
    ])
}

fn sync_group(v: i16, flex: bool) -> SyncGroupRequest {
    let mut request = SyncGroupRequest::default()
        .with_group_id(group("group-1"))
        .with_generation_id(7)
        .with_member_id(s("consumer-1-5f0c"))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s("consumer-1-5f0c"))
                .with_assignment(member_metadata())
                .with_unknown_tagged_fields(tags(flex)),
            SyncGroupRequestAssignment::default()
                .with_member_id(s("consumer-2-77aa"))
                .with_assignment(Bytes::new()),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request = request.with_group_instance_id((v != 4).then(|| s("instance-1")));
    }
    if v >= 5 {
        request = request
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")));
    }
    request
}

fn describe_groups(v: i16, flex: bool) -> DescribeGroupsRequest {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![group("group-1"), group("group-2"), group("")])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request.with_include_authorized_operations(true)
    } else {
        request
    }
}

fn list_groups(v: i16, flex: bool) -> ListGroupsRequest {
    let mut request = ListGroupsRequest::default().with_unknown_tagged_fields(tags(flex));
    if v >= 4 {
        request = request.with_states_filter(vec![s("Stable"), s("PreparingRebalance")]);
    }
    if v >= 5 {
        request = request.with_types_filter(vec![s("classic"), s("consumer")]);
    }
    request
}

fn delete_groups(flex: bool) -> DeleteGroupsRequest {
    DeleteGroupsRequest::default()
        .with_groups_names(vec![group("group-1"), group("group-2")])
        .with_unknown_tagged_fields(tags(flex))
}

fn offset_delete() -> OffsetDeleteRequest {
    let partition = |index| OffsetDeleteRequestPartition::default().with_partition_index(index);
    OffsetDeleteRequest::default()
        .with_group_id(group("group-1"))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition(0), partition(2)]),
            OffsetDeleteRequestTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(1)]),
        ])
}

fn consumer_group_heartbeat(v: i16) -> ConsumerGroupHeartbeatRequest {
    let owned = |partitions: Vec<i32>| {
        HeartbeatTopicPartitions::default()
            .with_topic_id(TOPIC_ID)
            .with_partitions(partitions)
            .with_unknown_tagged_fields(tags(true))
    };
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group("group-1"))
        .with_member_id(s("rBSm0z3zQG2bbI9v0vL2Xw"))
        .with_member_epoch(7)
        .with_instance_id(Some(s("instance-1")))
        .with_rack_id(None)
        .with_rebalance_timeout_ms(300_000)
        .with_subscribed_topic_names(Some(vec![topic("orders"), topic("audit")]))
        .with_subscribed_topic_regex((v >= 1).then(|| s("orders-.*")))
        .with_server_assignor(Some(s("uniform")))
        .with_topic_partitions(Some(vec![owned(vec![0, 2]), owned(vec![])]))
        .with_unknown_tagged_fields(tags(true))
}

fn consumer_group_describe() -> ConsumerGroupDescribeRequest {
    ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![group("group-1"), group("group-2")])
        .with_include_authorized_operations(true)
        .with_unknown_tagged_fields(tags(true))
}

fn add_partitions_to_txn(v: i16, flex: bool) -> AddPartitionsToTxnRequest {
    let topics = || {
        vec![
            AddPartitionsToTxnTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![0, 2])
                .with_unknown_tagged_fields(tags(flex)),
            AddPartitionsToTxnTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![1]),
        ]
    };
    if v >= 4 {
        AddPartitionsToTxnRequest::default()
            .with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(s("txn-1")))
                    .with_producer_id(ProducerId(4000))
                    .with_producer_epoch(3)
                    .with_verify_only(true)
                    .with_topics(topics())
                    .with_unknown_tagged_fields(tags(flex)),
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(s("txn-2")))
                    .with_producer_id(ProducerId(4001))
                    .with_topics(topics()),
            ])
            .with_unknown_tagged_fields(tags(flex))
    } else {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s("txn-1")))
            .with_v3_and_below_producer_id(ProducerId(4000))
            .with_v3_and_below_producer_epoch(3)
            .with_v3_and_below_topics(topics())
            .with_unknown_tagged_fields(tags(flex))
    }
}

fn end_txn(flex: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s("txn-1")))
        .with_producer_id(ProducerId(4000))
        .with_producer_epoch(3)
        .with_committed(true)
        .with_unknown_tagged_fields(tags(flex))
}

fn add_offsets_to_txn(flex: bool) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s("txn-1")))
        .with_producer_id(ProducerId(4000))
        .with_producer_epoch(3)
        .with_group_id(group("group-1"))
        .with_unknown_tagged_fields(tags(flex))
}

fn txn_offset_commit(v: i16, flex: bool) -> TxnOffsetCommitRequest {
    let partition = |index, offset| {
        TxnOffsetCommitRequestPartition::default()
            .with_partition_index(index)
            .with_committed_offset(offset)
            .with_committed_leader_epoch(if v >= 2 { 5 } else { -1 })
            .with_committed_metadata(Some(s("meta")))
            .with_unknown_tagged_fields(tags(flex))
    };
    let mut request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("txn-1")))
        .with_group_id(group("group-1"))
        .with_producer_id(ProducerId(4000))
        .with_producer_epoch(3)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition(0, 10), partition(1, 20)])
                .with_unknown_tagged_fields(tags(flex)),
            TxnOffsetCommitRequestTopic::default()
                .with_name(topic("audit"))
                .with_partitions(vec![partition(2, 30)]),
        ])
        .with_unknown_tagged_fields(tags(flex));
    if v >= 3 {
        request = request
            .with_generation_id(4)
            .with_member_id(s("member-1"))
            .with_group_instance_id(Some(s("instance-1")));
    }
    request
}

fn list_transactions(v: i16) -> ListTransactionsRequest {
    ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing"), s("CompleteCommit")])
        .with_producer_id_filters(vec![ProducerId(4000)])
        .with_duration_filter(if v >= 1 { 60_000 } else { -1 })
        .with_transactional_id_pattern((v >= 2).then(|| s("txn-.*")))
        .with_unknown_tagged_fields(tags(true))
}
