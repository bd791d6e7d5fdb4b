//! Kafka's error codes, as one enum.
//!
//! Every code Kafka 4.1 defines has a variant; a code this table does not know is kept as
//! [`ErrorCode::Unknown`] so that nothing a broker sends is lost. The two classifications a client
//! needs are derived from Kafka's Java exception hierarchy:
//!
//! - [`ErrorCode::is_retriable`]: the exception extends `RetriableException`;
//! - [`ErrorCode::invalidates_metadata`]: the exception extends `InvalidMetadataException`, so the
//!   client refreshes metadata before it retries.
//!
//! # References
//! - `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`
//! - `clients/src/main/java/org/apache/kafka/common/errors/*.java` (the class hierarchy)

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $retriable:literal, $metadata:literal; )*) => {
        /// A Kafka protocol error code (the `error_code` int16 of responses).
        ///
        /// `Display` renders Kafka's name and the number, e.g. `NOT_LEADER_OR_FOLLOWER (6)`.
        ///
        /// ```
        /// use kafkit_protocol::ErrorCode;
        /// let code = ErrorCode::from(6);
        /// assert_eq!(code, ErrorCode::NotLeaderOrFollower);
        /// assert!(code.is_retriable() && code.invalidates_metadata());
        /// assert_eq!(code.to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
        /// assert_eq!(ErrorCode::from(1000), ErrorCode::Unknown(1000));
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this version of kafkit does not know.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The wire value.
            pub const fn code(self) -> i16 {
                match self {
                    $( ErrorCode::$variant => $code, )*
                    ErrorCode::Unknown(c) => c,
                }
            }

            /// Kafka's name for the code (`Errors.name()`), `UNKNOWN` for unknown codes.
            pub const fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $name, )*
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether Kafka's exception for this code is a `RetriableException`: the same request
            /// may succeed if it is sent again. Unknown codes are not retriable.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $( ErrorCode::$variant => $retriable, )*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// Whether Kafka's exception for this code is an `InvalidMetadataException`: the client's
            /// view of leaders is stale and must be refreshed before a retry. Implies retriable.
            pub const fn invalidates_metadata(self) -> bool {
                match self {
                    $( ErrorCode::$variant => $metadata, )*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }

        impl From<i16> for ErrorCode {
            fn from(code: i16) -> Self {
                match code {
                    $( $code => ErrorCode::$variant, )*
                    other => ErrorCode::Unknown(other),
                }
            }
        }
    };
}

error_codes! {
    /// The server experienced an unexpected error.
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false, false;
    /// No error.
    None = 0, "NONE", false, false;
    /// The requested offset is outside the log.
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false, false;
    /// A batch failed its CRC or size check.
    CorruptMessage = 2, "CORRUPT_MESSAGE", true, false;
    /// The broker does not host this topic-partition.
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true, true;
    /// The requested fetch size is invalid.
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false, false;
    /// No leader right now (election in progress).
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true, true;
    /// This broker is not the leader (or follower) for the partition.
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true, true;
    /// The request timed out.
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true, false;
    /// The broker is not available.
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false, false;
    /// The replica is not available.
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true, true;
    /// A batch is larger than the broker accepts.
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false, false;
    /// The controller moved.
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false, false;
    /// The offset commit metadata was too large.
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false, false;
    /// The server disconnected before a response was received.
    NetworkException = 13, "NETWORK_EXCEPTION", true, true;
    /// The coordinator is loading.
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true, false;
    /// The coordinator is not available.
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true, false;
    /// This is not the coordinator.
    NotCoordinator = 16, "NOT_COORDINATOR", true, false;
    /// The topic name is invalid, or the topic is internal.
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false, false;
    /// A batch is larger than the segment size.
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false, false;
    /// Fewer in-sync replicas than required.
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true, false;
    /// Written, but to fewer in-sync replicas than required.
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true, false;
    /// acks is not -1, 0 or 1.
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false, false;
    /// Illegal group generation.
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false, false;
    /// Inconsistent group protocol.
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false, false;
    /// Invalid group id.
    InvalidGroupId = 24, "INVALID_GROUP_ID", false, false;
    /// Unknown group member.
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false, false;
    /// Invalid session timeout.
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false, false;
    /// The group is rebalancing.
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false, false;
    /// Invalid commit offset size.
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false, false;
    /// Topic authorization failed.
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false, false;
    /// Group authorization failed.
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false, false;
    /// Cluster authorization failed.
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false, false;
    /// A record timestamp is out of the accepted range.
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false, false;
    /// Unsupported SASL mechanism.
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false, false;
    /// Illegal SASL state.
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false, false;
    /// The API version is not supported.
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false, false;
    /// The topic already exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false, false;
    /// Invalid partition count.
    InvalidPartitions = 37, "INVALID_PARTITIONS", false, false;
    /// Invalid replication factor.
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false, false;
    /// Invalid replica assignment.
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false, false;
    /// Invalid configuration.
    InvalidConfig = 40, "INVALID_CONFIG", false, false;
    /// Not the controller.
    NotController = 41, "NOT_CONTROLLER", true, false;
    /// The request is malformed.
    InvalidRequest = 42, "INVALID_REQUEST", false, false;
    /// The message format does not support the request.
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false, false;
    /// A policy rejected the request.
    PolicyViolation = 44, "POLICY_VIOLATION", false, false;
    /// An idempotent batch arrived with a sequence gap.
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false, false;
    /// An idempotent batch was a duplicate.
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false, false;
    /// The producer epoch is older than the broker's.
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false, false;
    /// Invalid transaction state.
    InvalidTxnState = 48, "INVALID_TXN_STATE", false, false;
    /// Invalid producer id mapping.
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false, false;
    /// Invalid transaction timeout.
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false, false;
    /// A concurrent transaction operation is ongoing.
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true, false;
    /// The transaction coordinator was fenced.
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false, false;
    /// Transactional id authorization failed.
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false, false;
    /// Security features are disabled.
    SecurityDisabled = 54, "SECURITY_DISABLED", false, false;
    /// The operation was not attempted.
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false, false;
    /// Disk error on the broker.
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true, true;
    /// Log directory not found.
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false, false;
    /// SASL authentication failed.
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false, false;
    /// The broker has no state for the producer id.
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false, false;
    /// A reassignment is in progress.
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false, false;
    /// Delegation tokens are disabled.
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false, false;
    /// Delegation token not found.
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false, false;
    /// Delegation token owner mismatch.
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false, false;
    /// Delegation token requests not allowed.
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false, false;
    /// Delegation token authorization failed.
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false, false;
    /// Delegation token expired.
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false, false;
    /// Invalid principal type.
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false, false;
    /// The group is not empty.
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false, false;
    /// The group id does not exist.
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false, false;
    /// Fetch session id not found.
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true, false;
    /// Invalid fetch session epoch.
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true, false;
    /// No matching listener on the leader.
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true, true;
    /// Topic deletion is disabled.
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false, false;
    /// The leader epoch in the request is older than the broker's.
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true, true;
    /// The leader epoch in the request is newer than the broker's.
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true, false;
    /// The compression type is not supported for this request version.
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false, false;
    /// Stale broker epoch.
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false, false;
    /// The offset is not available yet.
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true, false;
    /// The member needs a member id.
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false, false;
    /// The preferred leader is not available.
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true, true;
    /// The group reached its maximum size.
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false, false;
    /// Fenced static member instance id.
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false, false;
    /// No eligible leaders.
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true, true;
    /// No election needed.
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true, true;
    /// No reassignment in progress.
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false, false;
    /// The group is subscribed to the topic.
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false, false;
    /// A record failed broker-side validation.
    InvalidRecord = 87, "INVALID_RECORD", false, false;
    /// Unstable offsets need to be cleared.
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true, false;
    /// The throttling quota has been exceeded.
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true, false;
    /// A newer producer with the same transactional id exists.
    ProducerFenced = 90, "PRODUCER_FENCED", false, false;
    /// Resource not found.
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false, false;
    /// Duplicate resource.
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false, false;
    /// Unacceptable credential.
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false, false;
    /// Inconsistent voter set.
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false, false;
    /// Invalid update version.
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false, false;
    /// Feature update failed.
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false, false;
    /// Principal deserialization failure.
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false, false;
    /// Snapshot not found.
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false, false;
    /// Position out of range.
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false, false;
    /// Unknown topic id.
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true, true;
    /// Duplicate broker registration.
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false, false;
    /// Broker id not registered.
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false, false;
    /// Inconsistent topic id.
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true, true;
    /// Inconsistent cluster id.
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false, false;
    /// Transactional id not found.
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false, false;
    /// Fetch session topic id error.
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true, false;
    /// Ineligible replica.
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false, false;
    /// New leader elected.
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false, false;
    /// The offset moved to tiered storage.
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false, false;
    /// Fenced member epoch.
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false, false;
    /// Unreleased instance id.
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false, false;
    /// Unsupported assignor.
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false, false;
    /// Stale member epoch.
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false, false;
    /// Mismatched endpoint type.
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false, false;
    /// Unsupported endpoint type.
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false, false;
    /// Unknown controller id.
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false, false;
    /// Unknown telemetry subscription id.
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false, false;
    /// Telemetry payload too large.
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false, false;
    /// Invalid broker registration.
    InvalidRegistration = 119, "INVALID_REGISTRATION", false, false;
    /// The transaction can be aborted.
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false, false;
    /// Invalid record state.
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false, false;
    /// Share session not found.
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true, false;
    /// Invalid share session epoch.
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true, false;
    /// Fenced share state epoch.
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false, false;
    /// Invalid voter key.
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false, false;
    /// Duplicate voter.
    DuplicateVoter = 126, "DUPLICATE_VOTER", false, false;
    /// Voter not found.
    VoterNotFound = 127, "VOTER_NOT_FOUND", false, false;
    /// Invalid regular expression.
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false, false;
    /// The client must re-bootstrap.
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false, false;
    /// Invalid streams topology.
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false, false;
    /// Invalid streams topology epoch.
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false, false;
    /// Streams topology fenced.
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false, false;
    /// Share session limit reached.
    ShareSessionLimitReached = 133, "SHARE_SESSION_LIMIT_REACHED", true, false;
}

impl ErrorCode {
    /// `true` for [`ErrorCode::None`].
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> i16 {
        code.code()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn every_known_code_round_trips_through_i16() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from(code.code()), code, "{code}");
        }
        assert_eq!(ErrorCode::ALL.len(), 135);
    }

    #[test]
    fn metadata_invalidation_implies_retriable() {
        for &code in ErrorCode::ALL {
            if code.invalidates_metadata() {
                assert!(code.is_retriable(), "{code}");
            }
        }
    }

    /// The produce-relevant rows of Java's classification table (producer-reference §1.7).
    #[rstest]
    #[case::unknown_topic(3, true, true)]
    #[case::leader_not_available(5, true, true)]
    #[case::not_leader(6, true, true)]
    #[case::replica_not_available(9, true, true)]
    #[case::network(13, true, true)]
    #[case::storage(56, true, true)]
    #[case::fenced_leader_epoch(74, true, true)]
    #[case::unknown_topic_id(100, true, true)]
    #[case::inconsistent_topic_id(103, true, true)]
    #[case::corrupt(2, true, false)]
    #[case::timed_out(7, true, false)]
    #[case::not_enough_replicas(19, true, false)]
    #[case::not_enough_replicas_after(20, true, false)]
    #[case::unknown_leader_epoch(75, true, false)]
    #[case::throttled(89, true, false)]
    #[case::too_large(10, false, false)]
    #[case::out_of_order(45, false, false)]
    #[case::duplicate(46, false, false)]
    #[case::unknown_producer(59, false, false)]
    #[case::record_list_too_large(18, false, false)]
    #[case::invalid_record(87, false, false)]
    #[case::topic_auth(29, false, false)]
    #[case::invalid_acks(21, false, false)]
    #[case::invalid_timestamp(32, false, false)]
    #[case::policy(44, false, false)]
    #[case::unsupported_compression(76, false, false)]
    #[case::unknown_server(-1, false, false)]
    #[case::cluster_auth(31, false, false)]
    #[case::unsupported_version(35, false, false)]
    #[case::fenced(90, false, false)]
    #[case::unknown(999, false, false)]
    fn classification_matches_java(#[case] code: i16, #[case] retriable: bool, #[case] refresh: bool) {
        let code = ErrorCode::from(code);
        assert_eq!(code.is_retriable(), retriable, "{code}");
        assert_eq!(code.invalidates_metadata(), refresh, "{code}");
    }

    #[rstest]
    #[case(ErrorCode::NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER (6)")]
    #[case(ErrorCode::UnknownServerError, "UNKNOWN_SERVER_ERROR (-1)")]
    #[case(ErrorCode::Unknown(4242), "UNKNOWN (4242)")]
    fn display_is_name_and_code(#[case] code: ErrorCode, #[case] text: &str) {
        assert_eq!(code.to_string(), text);
    }
}
