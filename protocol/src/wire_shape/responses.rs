//! The shapes of the responses to the requests kafkit serves, in ApiKey order, for the served
//! versions. The producer and the test kit decode these from brokers they do not control.
//!
//! Read off kafka-protocol 0.18.0's generated `decode` functions (`src/messages/*_response.rs`).
//! Fields of structs that only travel in a tagged field, or only inside an array added in a later
//! version, are listed without a version bound: the enclosing field already carries it.

use kafka_protocol::messages::ApiKey;

use super::Kind::{Array, Bool, Bytes, Int16, Int32, Int64, Int8, NullableStruct, Str, Struct, Uuid};
use super::{f, Field, Shape};

/// Response header v0 (v1, flexible, adds a tagged-field section).
pub(crate) const RESPONSE_HEADER: Shape = Shape {
    name: "response header",
    flexible_from: 1,
    fields: &[f("correlation_id", Int32)],
};

/// The shape of `api_key`'s response, if kafkit serves that API.
pub(crate) fn response_shape(api_key: ApiKey) -> Option<&'static Shape> {
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

/// Produce, versions 3..=13, flexible from 9; v10 adds the KIP-951 leader hints as tagged fields,
/// v13 names topics by id.
const PRODUCE: Shape = Shape {
    name: "Produce response",
    flexible_from: 9,
    fields: &[
        f("responses", Array(&Struct(TOPIC_PRODUCE_RESPONSE))),
        f("throttle_time_ms", Int32),
        f("node_endpoints", Array(&Struct(NODE_ENDPOINT)))
            .since(10)
            .tag(0),
    ],
};
const TOPIC_PRODUCE_RESPONSE: &[Field] = &[
    f("name", Str).until(12),
    f("topic_id", Uuid).since(13),
    f("partition_responses", Array(&Struct(PARTITION_PRODUCE_RESPONSE))),
];
const PARTITION_PRODUCE_RESPONSE: &[Field] = &[
    f("index", Int32),
    f("error_code", Int16),
    f("base_offset", Int64),
    f("log_append_time_ms", Int64),
    f("log_start_offset", Int64).since(5),
    f(
        "record_errors",
        Array(&Struct(&[
            f("batch_index", Int32),
            f("batch_index_error_message", Str),
        ])),
    )
    .since(8),
    f("error_message", Str).since(8),
    f("current_leader", Struct(LEADER_ID_AND_EPOCH)).since(10).tag(0),
];
const LEADER_ID_AND_EPOCH: &[Field] = &[f("leader_id", Int32), f("leader_epoch", Int32)];
const NODE_ENDPOINT: &[Field] = &[
    f("node_id", Int32),
    f("host", Str),
    f("port", Int32),
    f("rack", Str),
];

/// Fetch, versions 4..=18, flexible from 12; v13 names topics by id, v16 adds the KIP-951
/// endpoints of new leaders as a tagged field.
const FETCH: Shape = Shape {
    name: "Fetch response",
    flexible_from: 12,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16).since(7),
        f("session_id", Int32).since(7),
        f(
            "responses",
            Array(&Struct(&[
                f("topic", Str).until(12),
                f("topic_id", Uuid).since(13),
                f("partitions", Array(&Struct(PARTITION_DATA))),
            ])),
        ),
        f("node_endpoints", Array(&Struct(NODE_ENDPOINT)))
            .since(16)
            .tag(0),
    ],
};
const PARTITION_DATA: &[Field] = &[
    f("partition_index", Int32),
    f("error_code", Int16),
    f("high_watermark", Int64),
    f("last_stable_offset", Int64),
    f("log_start_offset", Int64).since(5),
    f(
        "aborted_transactions",
        Array(&Struct(&[f("producer_id", Int64), f("first_offset", Int64)])),
    ),
    f("preferred_read_replica", Int32).since(11),
    f("records", Bytes),
    f(
        "diverging_epoch",
        Struct(&[f("epoch", Int32), f("end_offset", Int64)]),
    )
    .tag(0),
    f("current_leader", Struct(LEADER_ID_AND_EPOCH)).tag(1),
    f(
        "snapshot_id",
        Struct(&[f("end_offset", Int64), f("epoch", Int32)]),
    )
    .tag(2),
];

/// ListOffsets, versions 1..=10, flexible from 6.
const LIST_OFFSETS: Shape = Shape {
    name: "ListOffsets response",
    flexible_from: 6,
    fields: &[
        f("throttle_time_ms", Int32).since(2),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f("partitions", Array(&Struct(LIST_OFFSETS_PARTITION))),
            ])),
        ),
    ],
};
const LIST_OFFSETS_PARTITION: &[Field] = &[
    f("partition_index", Int32),
    f("error_code", Int16),
    f("timestamp", Int64),
    f("offset", Int64),
    f("leader_epoch", Int32).since(4),
];

/// Metadata, versions 0..=13, flexible from 9; v13 adds a top-level error code.
const METADATA: Shape = Shape {
    name: "Metadata response",
    flexible_from: 9,
    fields: &[
        f("throttle_time_ms", Int32).since(3),
        f("brokers", Array(&Struct(METADATA_BROKER))),
        f("cluster_id", Str).since(2),
        f("controller_id", Int32).since(1),
        f("topics", Array(&Struct(METADATA_TOPIC))),
        f("cluster_authorized_operations", Int32).since(8).until(10),
        f("error_code", Int16).since(13),
    ],
};
const METADATA_BROKER: &[Field] = &[
    f("node_id", Int32),
    f("host", Str),
    f("port", Int32),
    f("rack", Str).since(1),
];
const METADATA_TOPIC: &[Field] = &[
    f("error_code", Int16),
    f("name", Str),
    f("topic_id", Uuid).since(10),
    f("is_internal", Bool).since(1),
    f("partitions", Array(&Struct(METADATA_PARTITION))),
    f("topic_authorized_operations", Int32).since(8),
];
const METADATA_PARTITION: &[Field] = &[
    f("error_code", Int16),
    f("partition_index", Int32),
    f("leader_id", Int32),
    f("leader_epoch", Int32).since(7),
    f("replica_nodes", Array(&Int32)),
    f("isr_nodes", Array(&Int32)),
    f("offline_replicas", Array(&Int32)).since(5),
];

/// OffsetCommit, versions 2..=9, flexible from 8.
const OFFSET_COMMIT: Shape = Shape {
    name: "OffsetCommit response",
    flexible_from: 8,
    fields: &[
        f("throttle_time_ms", Int32).since(3),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[f("partition_index", Int32), f("error_code", Int16)])),
                ),
            ])),
        ),
    ],
};

/// OffsetFetch, versions 1..=9, flexible from 6; v2 adds a top-level error code, v8 (KIP-709)
/// answers a list of groups, each with its own error code.
const OFFSET_FETCH: Shape = Shape {
    name: "OffsetFetch response",
    flexible_from: 6,
    fields: &[
        f("throttle_time_ms", Int32).since(3),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[
                        f("partition_index", Int32),
                        f("committed_offset", Int64),
                        f("committed_leader_epoch", Int32).since(5),
                        f("metadata", Str),
                        f("error_code", Int16),
                    ])),
                ),
            ])),
        )
        .until(7),
        f("error_code", Int16).since(2).until(7),
        f(
            "groups",
            Array(&Struct(&[
                f("group_id", Str),
                f(
                    "topics",
                    Array(&Struct(&[
                        f("name", Str),
                        f(
                            "partitions",
                            Array(&Struct(&[
                                f("partition_index", Int32),
                                f("committed_offset", Int64),
                                f("committed_leader_epoch", Int32),
                                f("metadata", Str),
                                f("error_code", Int16),
                            ])),
                        ),
                    ])),
                ),
                f("error_code", Int16),
            ])),
        )
        .since(8),
    ],
};

/// FindCoordinator, versions 0..=6, flexible from 3; v4 (KIP-699) answers a list of keys.
const FIND_COORDINATOR: Shape = Shape {
    name: "FindCoordinator response",
    flexible_from: 3,
    fields: &[
        f("throttle_time_ms", Int32).since(1),
        f("error_code", Int16).until(3),
        f("error_message", Str).since(1).until(3),
        f("node_id", Int32).until(3),
        f("host", Str).until(3),
        f("port", Int32).until(3),
        f("coordinators", Array(&Struct(COORDINATOR))).since(4),
    ],
};
const COORDINATOR: &[Field] = &[
    f("key", Str),
    f("node_id", Int32),
    f("host", Str),
    f("port", Int32),
    f("error_code", Int16),
    f("error_message", Str),
];

/// JoinGroup, versions 0..=9, flexible from 6; v7 adds the protocol type, v9 (KIP-814) the
/// leader's `skip_assignment`.
const JOIN_GROUP: Shape = Shape {
    name: "JoinGroup response",
    flexible_from: 6,
    fields: &[
        f("throttle_time_ms", Int32).since(2),
        f("error_code", Int16),
        f("generation_id", Int32),
        f("protocol_type", Str).since(7),
        f("protocol_name", Str),
        f("leader", Str),
        f("skip_assignment", Bool).since(9),
        f("member_id", Str),
        f(
            "members",
            Array(&Struct(&[
                f("member_id", Str),
                f("group_instance_id", Str).since(5),
                f("metadata", Bytes),
            ])),
        ),
    ],
};

/// Heartbeat, versions 0..=4, flexible from 4.
const HEARTBEAT: Shape = Shape {
    name: "Heartbeat response",
    flexible_from: 4,
    fields: &[f("throttle_time_ms", Int32).since(1), f("error_code", Int16)],
};

/// LeaveGroup, versions 0..=5, flexible from 4; v3 (KIP-345) answers per member.
const LEAVE_GROUP: Shape = Shape {
    name: "LeaveGroup response",
    flexible_from: 4,
    fields: &[
        f("throttle_time_ms", Int32).since(1),
        f("error_code", Int16),
        f(
            "members",
            Array(&Struct(&[
                f("member_id", Str),
                f("group_instance_id", Str),
                f("error_code", Int16),
            ])),
        )
        .since(3),
    ],
};

/// SyncGroup, versions 0..=5, flexible from 4.
const SYNC_GROUP: Shape = Shape {
    name: "SyncGroup response",
    flexible_from: 4,
    fields: &[
        f("throttle_time_ms", Int32).since(1),
        f("error_code", Int16),
        f("protocol_type", Str).since(5),
        f("protocol_name", Str).since(5),
        f("assignment", Bytes),
    ],
};

/// DescribeGroups, versions 0..=6, flexible from 5; v6 (KIP-1043) adds an error message per
/// group.
const DESCRIBE_GROUPS: Shape = Shape {
    name: "DescribeGroups response",
    flexible_from: 5,
    fields: &[
        f("throttle_time_ms", Int32).since(1),
        f("groups", Array(&Struct(DESCRIBED_GROUP))),
    ],
};
const DESCRIBED_GROUP: &[Field] = &[
    f("error_code", Int16),
    f("error_message", Str).since(6),
    f("group_id", Str),
    f("group_state", Str),
    f("protocol_type", Str),
    f("protocol_data", Str),
    f(
        "members",
        Array(&Struct(&[
            f("member_id", Str),
            f("group_instance_id", Str).since(4),
            f("client_id", Str),
            f("client_host", Str),
            f("member_metadata", Bytes),
            f("member_assignment", Bytes),
        ])),
    ),
    f("authorized_operations", Int32).since(3),
];

/// ListGroups, versions 0..=5, flexible from 3; v4 adds each group's state, v5 its type.
const LIST_GROUPS: Shape = Shape {
    name: "ListGroups response",
    flexible_from: 3,
    fields: &[
        f("throttle_time_ms", Int32).since(1),
        f("error_code", Int16),
        f(
            "groups",
            Array(&Struct(&[
                f("group_id", Str),
                f("protocol_type", Str),
                f("group_state", Str).since(4),
                f("group_type", Str).since(5),
            ])),
        ),
    ],
};

/// ApiVersions, versions 0..=4, flexible from 3 (its response header stays v0 regardless).
const API_VERSIONS: Shape = Shape {
    name: "ApiVersions response",
    flexible_from: 3,
    fields: &[
        f("error_code", Int16),
        f(
            "api_keys",
            Array(&Struct(&[
                f("api_key", Int16),
                f("min_version", Int16),
                f("max_version", Int16),
            ])),
        ),
        f("throttle_time_ms", Int32).since(1),
        f(
            "supported_features",
            Array(&Struct(&[
                f("name", Str),
                f("min_version", Int16),
                f("max_version", Int16),
            ])),
        )
        .tag(0),
        f("finalized_features_epoch", Int64).tag(1),
        f(
            "finalized_features",
            Array(&Struct(&[
                f("name", Str),
                f("max_version_level", Int16),
                f("min_version_level", Int16),
            ])),
        )
        .tag(2),
        f("zk_migration_ready", Bool).tag(3),
    ],
};

/// CreateTopics, versions 2..=7, flexible from 5.
const CREATE_TOPICS: Shape = Shape {
    name: "CreateTopics response",
    flexible_from: 5,
    fields: &[
        f("throttle_time_ms", Int32),
        f("topics", Array(&Struct(CREATABLE_TOPIC_RESULT))),
    ],
};
const CREATABLE_TOPIC_RESULT: &[Field] = &[
    f("name", Str),
    f("topic_id", Uuid).since(7),
    f("error_code", Int16),
    f("error_message", Str),
    f("num_partitions", Int32).since(5),
    f("replication_factor", Int16).since(5),
    f("configs", Array(&Struct(CREATABLE_TOPIC_CONFIGS))).since(5),
    f("topic_config_error_code", Int16).tag(0),
];
const CREATABLE_TOPIC_CONFIGS: &[Field] = &[
    f("name", Str),
    f("value", Str),
    f("read_only", Bool),
    f("config_source", Int8),
    f("is_sensitive", Bool),
];

/// DeleteTopics, versions 1..=6, flexible from 4.
const DELETE_TOPICS: Shape = Shape {
    name: "DeleteTopics response",
    flexible_from: 4,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "responses",
            Array(&Struct(&[
                f("name", Str),
                f("topic_id", Uuid).since(6),
                f("error_code", Int16),
                f("error_message", Str).since(5),
            ])),
        ),
    ],
};

/// InitProducerId, versions 0..=5, flexible from 2.
const INIT_PRODUCER_ID: Shape = Shape {
    name: "InitProducerId response",
    flexible_from: 2,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16),
        f("producer_id", Int64),
        f("producer_epoch", Int16),
    ],
};

/// CreatePartitions, versions 0..=3, flexible from 2.
const CREATE_PARTITIONS: Shape = Shape {
    name: "CreatePartitions response",
    flexible_from: 2,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "results",
            Array(&Struct(&[
                f("name", Str),
                f("error_code", Int16),
                f("error_message", Str),
            ])),
        ),
    ],
};

/// DeleteGroups, versions 0..=2, flexible from 2.
const DELETE_GROUPS: Shape = Shape {
    name: "DeleteGroups response",
    flexible_from: 2,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "results",
            Array(&Struct(&[f("group_id", Str), f("error_code", Int16)])),
        ),
    ],
};

/// OffsetDelete, version 0 only, never flexible.
const OFFSET_DELETE: Shape = Shape {
    name: "OffsetDelete response",
    flexible_from: i16::MAX,
    fields: &[
        f("error_code", Int16),
        f("throttle_time_ms", Int32),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[f("partition_index", Int32), f("error_code", Int16)])),
                ),
            ])),
        ),
    ],
};

/// A KIP-848 assignment by topic id.
const HEARTBEAT_ASSIGNMENT: &[Field] = &[f(
    "topic_partitions",
    Array(&Struct(&[f("topic_id", Uuid), f("partitions", Array(&Int32))])),
)];

/// ConsumerGroupHeartbeat (KIP-848), versions 0..=1, always flexible.
const CONSUMER_GROUP_HEARTBEAT: Shape = Shape {
    name: "ConsumerGroupHeartbeat response",
    flexible_from: 0,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16),
        f("error_message", Str),
        f("member_id", Str),
        f("member_epoch", Int32),
        f("heartbeat_interval_ms", Int32),
        f("assignment", NullableStruct(HEARTBEAT_ASSIGNMENT)),
    ],
};

/// A described member's assignment: topic id, name and partitions.
const DESCRIBED_ASSIGNMENT: &[Field] = &[f(
    "topic_partitions",
    Array(&Struct(&[
        f("topic_id", Uuid),
        f("topic_name", Str),
        f("partitions", Array(&Int32)),
    ])),
)];

/// ConsumerGroupDescribe (KIP-848), versions 0..=1, always flexible.
const CONSUMER_GROUP_DESCRIBE: Shape = Shape {
    name: "ConsumerGroupDescribe response",
    flexible_from: 0,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "groups",
            Array(&Struct(&[
                f("error_code", Int16),
                f("error_message", Str),
                f("group_id", Str),
                f("group_state", Str),
                f("group_epoch", Int32),
                f("assignment_epoch", Int32),
                f("assignor_name", Str),
                f(
                    "members",
                    Array(&Struct(&[
                        f("member_id", Str),
                        f("instance_id", Str),
                        f("rack_id", Str),
                        f("member_epoch", Int32),
                        f("client_id", Str),
                        f("client_host", Str),
                        f("subscribed_topic_names", Array(&Str)),
                        f("subscribed_topic_regex", Str),
                        f("assignment", Struct(DESCRIBED_ASSIGNMENT)),
                        f("target_assignment", Struct(DESCRIBED_ASSIGNMENT)),
                        f("member_type", Int8).since(1),
                    ])),
                ),
                f("authorized_operations", Int32),
            ])),
        ),
    ],
};

/// A topic's per-partition answers in AddPartitionsToTxn.
const TXN_TOPIC_RESULTS: super::Kind = Array(&Struct(&[
    f("name", Str),
    f(
        "results_by_partition",
        Array(&Struct(&[
            f("partition_index", Int32),
            f("partition_error_code", Int16),
        ])),
    ),
]));

/// AddPartitionsToTxn, versions 0..=5, flexible from 3; per transaction from 4.
const ADD_PARTITIONS_TO_TXN: Shape = Shape {
    name: "AddPartitionsToTxn response",
    flexible_from: 3,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16).since(4),
        f(
            "results_by_transaction",
            Array(&Struct(&[
                f("transactional_id", Str),
                f("topic_results", TXN_TOPIC_RESULTS),
            ])),
        )
        .since(4),
        f("results_by_topic_v3_and_below", TXN_TOPIC_RESULTS).until(3),
    ],
};

/// EndTxn, versions 0..=5, flexible from 3; v5 answers the producer id and epoch.
const END_TXN: Shape = Shape {
    name: "EndTxn response",
    flexible_from: 3,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16),
        f("producer_id", Int64).since(5),
        f("producer_epoch", Int16).since(5),
    ],
};

/// AddOffsetsToTxn, versions 0..=4, flexible from 3.
const ADD_OFFSETS_TO_TXN: Shape = Shape {
    name: "AddOffsetsToTxn response",
    flexible_from: 3,
    fields: &[f("throttle_time_ms", Int32), f("error_code", Int16)],
};

/// TxnOffsetCommit, versions 0..=5, flexible from 3.
const TXN_OFFSET_COMMIT: Shape = Shape {
    name: "TxnOffsetCommit response",
    flexible_from: 3,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "topics",
            Array(&Struct(&[
                f("name", Str),
                f(
                    "partitions",
                    Array(&Struct(&[f("partition_index", Int32), f("error_code", Int16)])),
                ),
            ])),
        ),
    ],
};

/// DescribeTransactions, version 0, flexible.
const DESCRIBE_TRANSACTIONS: Shape = Shape {
    name: "DescribeTransactions response",
    flexible_from: 0,
    fields: &[
        f("throttle_time_ms", Int32),
        f(
            "transaction_states",
            Array(&Struct(&[
                f("error_code", Int16),
                f("transactional_id", Str),
                f("transaction_state", Str),
                f("transaction_timeout_ms", Int32),
                f("transaction_start_time_ms", Int64),
                f("producer_id", Int64),
                f("producer_epoch", Int16),
                f(
                    "topics",
                    Array(&Struct(&[f("topic", Str), f("partitions", Array(&Int32))])),
                ),
            ])),
        ),
    ],
};

/// ListTransactions, versions 0..=2, flexible.
const LIST_TRANSACTIONS: Shape = Shape {
    name: "ListTransactions response",
    flexible_from: 0,
    fields: &[
        f("throttle_time_ms", Int32),
        f("error_code", Int16),
        f("unknown_state_filters", Array(&Str)),
        f(
            "transaction_states",
            Array(&Struct(&[
                f("transactional_id", Str),
                f("producer_id", Int64),
                f("transaction_state", Str),
            ])),
        ),
    ],
};

/// SaslHandshake, versions 0..=1, never flexible.
const SASL_HANDSHAKE: Shape = Shape {
    name: "SaslHandshake response",
    flexible_from: i16::MAX,
    fields: &[f("error_code", Int16), f("mechanisms", Array(&Str))],
};

/// SaslAuthenticate, versions 0..=2, flexible from 2; v1 adds the session lifetime (KIP-368).
const SASL_AUTHENTICATE: Shape = Shape {
    name: "SaslAuthenticate response",
    flexible_from: 2,
    fields: &[
        f("error_code", Int16),
        f("error_message", Str),
        f("auth_bytes", Bytes),
        f("session_lifetime_ms", Int64).since(1),
    ],
};
