//! The shapes of the requests kafkit serves, in ApiKey order, for the served versions only.
//!
//! Read off kafka-protocol 0.18.0's generated `decode` functions (`src/messages/*_request.rs`),
//! which are Kafka 4.1's schemas. Fields of structs that only travel inside an array added in a
//! later version are listed without that version bound: the enclosing field already carries it.

use kafka_protocol::messages::ApiKey;

use super::Kind::{Array, Bool, Bytes, ClassicStr, Int16, Int32, Int64, Int8, Str, Struct, Uuid};
use super::{f, Field, Kind, Shape};

/// Request header v1 (v2, flexible, adds a tagged-field section). `client_id` stays an int16
/// string in v2 so that a broker can always read it.
pub(crate) const REQUEST_HEADER: Shape = Shape {
    name: "request header",
    flexible_from: 2,
    fields: &[
        f("request_api_key", Int16),
        f("request_api_version", Int16),
        f("correlation_id", Int32),
        f("client_id", ClassicStr),
    ],
};

/// The shape of `api_key`'s request, if kafkit serves it.
pub(crate) fn request_shape(api_key: ApiKey) -> Option<&'static Shape> {
    Some(match api_key {
        ApiKey::Produce => &PRODUCE,
        ApiKey::Fetch => &FETCH,
        ApiKey::ListOffsets => &LIST_OFFSETS,
        ApiKey::Metadata => &METADATA,
        ApiKey::OffsetCommit => &OFFSET_COMMIT,
        ApiKey::OffsetFetch => &OFFSET_FETCH,
        ApiKey::FindCoordinator => &FIND_COORDINATOR,
        ApiKey::JoinGroup => &JOIN_GROUP,
        ApiKey::Heartbeat => &HEARTBEAT,
        ApiKey::LeaveGroup => &LEAVE_GROUP,
        ApiKey::SyncGroup => &SYNC_GROUP,
        ApiKey::DescribeGroups => &DESCRIBE_GROUPS,
        ApiKey::ListGroups => &LIST_GROUPS,
        ApiKey::SaslHandshake => &SASL_HANDSHAKE,
        ApiKey::SaslAuthenticate => &SASL_AUTHENTICATE,
        ApiKey::ApiVersions => &API_VERSIONS,
        ApiKey::CreateTopics => &CREATE_TOPICS,
        ApiKey::DeleteTopics => &DELETE_TOPICS,
        ApiKey::InitProducerId => &INIT_PRODUCER_ID,
        ApiKey::CreatePartitions => &CREATE_PARTITIONS,
        ApiKey::DeleteGroups => &DELETE_GROUPS,
        ApiKey::OffsetDelete => &OFFSET_DELETE,
        ApiKey::AddPartitionsToTxn => &ADD_PARTITIONS_TO_TXN,
        ApiKey::EndTxn => &END_TXN,
        ApiKey::AddOffsetsToTxn => &ADD_OFFSETS_TO_TXN,
        ApiKey::TxnOffsetCommit => &TXN_OFFSET_COMMIT,
        ApiKey::DescribeTransactions => &DESCRIBE_TRANSACTIONS,
        ApiKey::ListTransactions => &LIST_TRANSACTIONS,
        ApiKey::ConsumerGroupHeartbeat => &CONSUMER_GROUP_HEARTBEAT,
        ApiKey::ConsumerGroupDescribe => &CONSUMER_GROUP_DESCRIBE,
        _ => return None,
    })
}

/// Produce, versions 3..=13, flexible from 9; v13 names topics by id.
const PRODUCE: Shape = Shape {
    name: "Produce request",
    flexible_from: 9,
    fields: &[
        f("transactional_id", Str),
        f("acks", Int16),
        f("timeout_ms", Int32),
        f("topic_data", Array(&Struct(TOPIC_PRODUCE_DATA))),
    ],
};
const TOPIC_PRODUCE_DATA: &[Field] = &[
    f("name", Str).until(12),
    f("topic_id", Uuid).since(13),
    f(
        "partition_data",
        Array(&Struct(&[f("index", Int32), f("records", Bytes)])),
    ),
];

/// Fetch, versions 4..=18, flexible from 12; v13 names topics by id, v15 replaces `replica_id`
/// with the tagged `replica_state`.
const FETCH: Shape = Shape {
    name: "Fetch request",
    flexible_from: 12,
    fields: &[
        f("replica_id", Int32).until(14),
        f("max_wait_ms", Int32),
        f("min_bytes", Int32),
        f("max_bytes", Int32),
        f("isolation_level", Int8),
        f("session_id", Int32).since(7),
        f("session_epoch", Int32).since(7),
        f("topics", Array(&Struct(FETCH_TOPIC))),
        f("forgotten_topics_data", Array(&Struct(FORGOTTEN_TOPIC))).since(7),
        f("rack_id", Str).since(11),
        f("cluster_id", Str).tag(0),
        f(
            "replica_state",
            Struct(&[f("replica_id", Int32), f("replica_epoch", Int64)]),
        )
        .tag(1)
        .since(15),
    ],
};
const FETCH_TOPIC: &[Field] = &[
    f("topic", Str).until(12),
    f("topic_id", Uuid).since(13),
    f("partitions", Array(&Struct(FETCH_PARTITION))),
];
const FETCH_PARTITION: &[Field] = &[
    f("partition", Int32),
    f("current_leader_epoch", Int32).since(9),
    f("fetch_offset", Int64),
    f("last_fetched_epoch", Int32).since(12),
    f("log_start_offset", Int64).since(5),
    f("partition_max_bytes", Int32),
    f("replica_directory_id", Uuid).tag(0).since(17),
    f("high_watermark", Int64).tag(1).since(18),
];
const FORGOTTEN_TOPIC: &[Field] = &[
    f("topic", Str).until(12),
    f("topic_id", Uuid).since(13),
    f("partitions", Array(&Int32)),
];

/// ListOffsets, versions 1..=10, flexible from 6.
const LIST_OFFSETS: Shape = Shape {
    name: "ListOffsets request",
    flexible_from: 6,
    fields: &[
        f("replica_id", Int32),
        f("isolation_level", Int8).since(2),
        f("topics", Array(&Struct(LIST_OFFSETS_TOPIC))),
        f("timeout_ms", Int32).since(10),
    ],
};
const LIST_OFFSETS_TOPIC: &[Field] = &[
    f("name", Str),
    f(
        "partitions",
        Array(&Struct(&[
            f("partition_index", Int32),
            f("current_leader_epoch", Int32).since(4),
            f("timestamp", Int64),
        ])),
    ),
];

/// Metadata, versions 0..=13, flexible from 9.
const METADATA: Shape = Shape {
    name: "Metadata request",
    flexible_from: 9,
    fields: &[
        f(
            "topics",
            Array(&Struct(&[f("topic_id", Uuid).since(10), f("name", Str)])),
        ),
        f("allow_auto_topic_creation", Bool).since(4),
        f("include_cluster_authorized_operations", Bool)
            .since(8)
            .until(10),
        f("include_topic_authorized_operations", Bool).since(8),
    ],
};

/// OffsetCommit, versions 2..=9, flexible from 8. `retention_time_ms` is gone from v5 (KIP-211),
/// v6 adds the leader epoch, v7 the static member's instance id (KIP-345). The crate decodes no
/// topic ids (Kafka 4.1's v10), so kafkit stops at v9.
const OFFSET_COMMIT: Shape = Shape {
    name: "OffsetCommit request",
    flexible_from: 8,
    fields: &[
        f("group_id", Str),
        f("generation_id_or_member_epoch", Int32),
        f("member_id", Str),
        f("group_instance_id", Str).since(7),
        f("retention_time_ms", Int64).until(4),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[
                        f("partition_index", Int32),
                        f("committed_offset", Int64),
                        f("committed_leader_epoch", Int32).since(6),
                        f("committed_metadata", Str),
                    ])),
                ),
            ])),
        ),
    ],
};

/// OffsetFetch, versions 1..=9, flexible from 6. v8 (KIP-709) replaces the single group with a
/// list of groups; v9 (KIP-848) adds the member id and epoch per group.
const OFFSET_FETCH: Shape = Shape {
    name: "OffsetFetch request",
    flexible_from: 6,
    fields: &[
        f("group_id", Str).until(7),
        f("topics", Array(&Struct(OFFSET_FETCH_TOPIC))).until(7),
        f(
            "groups",
            Array(&Struct(&[
                f("group_id", Str),
                f("member_id", Str).since(9),
                f("member_epoch", Int32).since(9),
                f("topics", Array(&Struct(OFFSET_FETCH_TOPIC))),
            ])),
        )
        .since(8),
        f("require_stable", Bool).since(7),
    ],
};
const OFFSET_FETCH_TOPIC: &[Field] = &[f("name", Str), f("partition_indexes", Array(&Int32))];

/// FindCoordinator, versions 0..=6, flexible from 3.
const FIND_COORDINATOR: Shape = Shape {
    name: "FindCoordinator request",
    flexible_from: 3,
    fields: &[
        f("key", Str).until(3),
        f("key_type", Int8).since(1),
        f("coordinator_keys", Array(&Str)).since(4),
    ],
};

/// JoinGroup, versions 0..=9, flexible from 6.
const JOIN_GROUP: Shape = Shape {
    name: "JoinGroup request",
    flexible_from: 6,
    fields: &[
        f("group_id", Str),
        f("session_timeout_ms", Int32),
        f("rebalance_timeout_ms", Int32).since(1),
        f("member_id", Str),
        f("group_instance_id", Str).since(5),
        f("protocol_type", Str),
        f(
            "protocols",
            Array(&Struct(&[f("name", Str), f("metadata", Bytes)])),
        ),
        f("reason", Str).since(8),
    ],
};

/// Heartbeat, versions 0..=4, flexible from 4.
const HEARTBEAT: Shape = Shape {
    name: "Heartbeat request",
    flexible_from: 4,
    fields: &[
        f("group_id", Str),
        f("generation_id", Int32),
        f("member_id", Str),
        f("group_instance_id", Str).since(3),
    ],
};

/// LeaveGroup, versions 0..=5, flexible from 4; v3 (KIP-345) leaves a batch of members instead
/// of one, v5 adds a reason per member.
const LEAVE_GROUP: Shape = Shape {
    name: "LeaveGroup request",
    flexible_from: 4,
    fields: &[
        f("group_id", Str),
        f("member_id", Str).until(2),
        f(
            "members",
            Array(&Struct(&[
                f("member_id", Str),
                f("group_instance_id", Str),
                f("reason", Str).since(5),
            ])),
        )
        .since(3),
    ],
};

/// SyncGroup, versions 0..=5, flexible from 4.
const SYNC_GROUP: Shape = Shape {
    name: "SyncGroup request",
    flexible_from: 4,
    fields: &[
        f("group_id", Str),
        f("generation_id", Int32),
        f("member_id", Str),
        f("group_instance_id", Str).since(3),
        f("protocol_type", Str).since(5),
        f("protocol_name", Str).since(5),
        f(
            "assignments",
            Array(&Struct(&[f("member_id", Str), f("assignment", Bytes)])),
        ),
    ],
};

/// DescribeGroups, versions 0..=6, flexible from 5.
const DESCRIBE_GROUPS: Shape = Shape {
    name: "DescribeGroups request",
    flexible_from: 5,
    fields: &[
        f("groups", Array(&Str)),
        f("include_authorized_operations", Bool).since(3),
    ],
};

/// ListGroups, versions 0..=5, flexible from 3 (v0-v2 have an empty body).
const LIST_GROUPS: Shape = Shape {
    name: "ListGroups request",
    flexible_from: 3,
    fields: &[
        f("states_filter", Array(&Str)).since(4),
        f("types_filter", Array(&Str)).since(5),
    ],
};

/// ApiVersions, versions 0..=4, flexible from 3 (v0-v2 have an empty body).
const API_VERSIONS: Shape = Shape {
    name: "ApiVersions request",
    flexible_from: 3,
    fields: &[
        f("client_software_name", Str).since(3),
        f("client_software_version", Str).since(3),
    ],
};

/// CreateTopics, versions 2..=7, flexible from 5.
const CREATE_TOPICS: Shape = Shape {
    name: "CreateTopics request",
    flexible_from: 5,
    fields: &[
        f("topics", Array(&Struct(CREATABLE_TOPIC))),
        f("timeout_ms", Int32),
        f("validate_only", Bool),
    ],
};
const CREATABLE_TOPIC: &[Field] = &[
    f("name", Str),
    f("num_partitions", Int32),
    f("replication_factor", Int16),
    f(
        "assignments",
        Array(&Struct(&[
            f("partition_index", Int32),
            f("broker_ids", Array(&Int32)),
        ])),
    ),
    f("configs", Array(&Struct(&[f("name", Str), f("value", Str)]))),
];

/// DeleteTopics, versions 1..=6, flexible from 4.
const DELETE_TOPICS: Shape = Shape {
    name: "DeleteTopics request",
    flexible_from: 4,
    fields: &[
        f("topics", Array(&Struct(&[f("name", Str), f("topic_id", Uuid)]))).since(6),
        f("topic_names", Array(&Str)).until(5),
        f("timeout_ms", Int32),
    ],
};

/// InitProducerId, versions 0..=5, flexible from 2.
const INIT_PRODUCER_ID: Shape = Shape {
    name: "InitProducerId request",
    flexible_from: 2,
    fields: &[
        f("transactional_id", Str),
        f("transaction_timeout_ms", Int32),
        f("producer_id", Int64).since(3),
        f("producer_epoch", Int16).since(3),
    ],
};

/// CreatePartitions, versions 0..=3, flexible from 2.
const CREATE_PARTITIONS: Shape = Shape {
    name: "CreatePartitions request",
    flexible_from: 2,
    fields: &[
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f("count", Int32),
                f("assignments", Array(&Struct(&[f("broker_ids", Array(&Int32))]))),
            ])),
        ),
        f("timeout_ms", Int32),
        f("validate_only", Bool),
    ],
};

/// DeleteGroups, versions 0..=2, flexible from 2.
const DELETE_GROUPS: Shape = Shape {
    name: "DeleteGroups request",
    flexible_from: 2,
    fields: &[f("groups_names", Array(&Str))],
};

/// OffsetDelete, version 0 only, never flexible.
const OFFSET_DELETE: Shape = Shape {
    name: "OffsetDelete request",
    flexible_from: i16::MAX,
    fields: &[
        f("group_id", Str),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f("partitions", Array(&Struct(&[f("partition_index", Int32)]))),
            ])),
        ),
    ],
};

/// ConsumerGroupHeartbeat (KIP-848), versions 0..=1, always flexible.
const CONSUMER_GROUP_HEARTBEAT: Shape = Shape {
    name: "ConsumerGroupHeartbeat request",
    flexible_from: 0,
    fields: &[
        f("group_id", Str),
        f("member_id", Str),
        f("member_epoch", Int32),
        f("instance_id", Str),
        f("rack_id", Str),
        f("rebalance_timeout_ms", Int32),
        f("subscribed_topic_names", Array(&Str)),
        f("subscribed_topic_regex", Str).since(1),
        f("server_assignor", Str),
        f(
            "topic_partitions",
            Array(&Struct(&[f("topic_id", Uuid), f("partitions", Array(&Int32))])),
        ),
    ],
};

/// ConsumerGroupDescribe (KIP-848), versions 0..=1, always flexible.
const CONSUMER_GROUP_DESCRIBE: Shape = Shape {
    name: "ConsumerGroupDescribe request",
    flexible_from: 0,
    fields: &[
        f("group_ids", Array(&Str)),
        f("include_authorized_operations", Bool),
    ],
};

/// A topic and its partitions in AddPartitionsToTxn.
const TXN_TOPICS: Kind = Array(&Struct(&[f("name", Str), f("partitions", Array(&Int32))]));

/// AddPartitionsToTxn, versions 0..=5, flexible from 3; batched transactions from 4 (KIP-890).
const ADD_PARTITIONS_TO_TXN: Shape = Shape {
    name: "AddPartitionsToTxn request",
    flexible_from: 3,
    fields: &[
        f(
            "transactions",
            Array(&Struct(&[
                f("transactional_id", Str),
                f("producer_id", Int64),
                f("producer_epoch", Int16),
                f("verify_only", Bool),
                f("topics", TXN_TOPICS),
            ])),
        )
        .since(4),
        f("v3_and_below_transactional_id", Str).until(3),
        f("v3_and_below_producer_id", Int64).until(3),
        f("v3_and_below_producer_epoch", Int16).until(3),
        f("v3_and_below_topics", TXN_TOPICS).until(3),
    ],
};

/// EndTxn, versions 0..=5, flexible from 3.
const END_TXN: Shape = Shape {
    name: "EndTxn request",
    flexible_from: 3,
    fields: &[
        f("transactional_id", Str),
        f("producer_id", Int64),
        f("producer_epoch", Int16),
        f("committed", Bool),
    ],
};

/// AddOffsetsToTxn, versions 0..=4, flexible from 3.
const ADD_OFFSETS_TO_TXN: Shape = Shape {
    name: "AddOffsetsToTxn request",
    flexible_from: 3,
    fields: &[
        f("transactional_id", Str),
        f("producer_id", Int64),
        f("producer_epoch", Int16),
        f("group_id", Str),
    ],
};

/// TxnOffsetCommit, versions 0..=5, flexible from 3.
const TXN_OFFSET_COMMIT: Shape = Shape {
    name: "TxnOffsetCommit request",
    flexible_from: 3,
    fields: &[
        f("transactional_id", Str),
        f("group_id", Str),
        f("producer_id", Int64),
        f("producer_epoch", Int16),
        f("generation_id", Int32).since(3),
        f("member_id", Str).since(3),
        f("group_instance_id", Str).since(3),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[
                        f("partition_index", Int32),
                        f("committed_offset", Int64),
                        f("committed_leader_epoch", Int32).since(2),
                        f("committed_metadata", Str),
                    ])),
                ),
            ])),
        ),
    ],
};

/// DescribeTransactions, version 0, flexible.
const DESCRIBE_TRANSACTIONS: Shape = Shape {
    name: "DescribeTransactions request",
    flexible_from: 0,
    fields: &[f("transactional_ids", Array(&Str))],
};

/// ListTransactions, versions 0..=2, flexible.
const LIST_TRANSACTIONS: Shape = Shape {
    name: "ListTransactions request",
    flexible_from: 0,
    fields: &[
        f("state_filters", Array(&Str)),
        f("producer_id_filters", Array(&Int64)),
        f("duration_filter", Int64).since(1),
        f("transactional_id_pattern", Str).since(2),
    ],
};

/// SaslHandshake, versions 0..=1, never flexible.
const SASL_HANDSHAKE: Shape = Shape {
    name: "SaslHandshake request",
    flexible_from: i16::MAX,
    fields: &[f("mechanism", Str)],
};

/// SaslAuthenticate, versions 0..=2, flexible from 2.
const SASL_AUTHENTICATE: Shape = Shape {
    name: "SaslAuthenticate request",
    flexible_from: 2,
    fields: &[f("auth_bytes", Bytes)],
};
