//! The API versions kafkit speaks, in one table.
//!
//! This table, not `kafka_protocol`'s `ApiKey::valid_versions()`, is what the protocol layer decodes
//! (and round-trips in its tests), what the broker advertises in ApiVersions and what the producer
//! negotiates against: the crate's own ranges disagree with its decoders for some APIs
//! (OffsetCommit and OffsetFetch, whose requests it decodes only up to v9 while it lists v10, and
//! InitProducerId), and advertising an API makes clients use it, so only what kafkit implements is
//! listed.
//!
//! The classic consumer-group APIs ([`GROUP_APIS`]) are in the table so that the protocol layer
//! decodes them; whether the broker advertises them is the broker's decision (it may leave them
//! out of ApiVersions until it serves them).
//!
//! The ranges are chosen so that every client we know of finds a common version
//! (reference/protocol-and-clients.md §3): Fetch must be advertised even by a producer-only broker
//! because librdkafka gates record batch v2 on it, and FindCoordinator because librdkafka gates LZ4
//! on it.
//!
//! # References
//! - KIP-511 (ApiVersions fallback), KIP-896 (Kafka 4.0 minimum versions)

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use crate::ErrorCode;

/// An inclusive range of versions of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API.
    pub api_key: ApiKey,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
}

impl ApiVersionRange {
    /// Whether `version` is inside the range.
    pub const fn contains(&self, version: i16) -> bool {
        version >= self.min && version <= self.max
    }

    /// The highest version both sides support, Java's rule: `min(ours.max, theirs.max)` provided it
    /// is at least the larger of the two minimums.
    pub fn negotiate(&self, theirs_min: i16, theirs_max: i16) -> Option<i16> {
        let version = self.max.min(theirs_max);
        (version >= self.min.max(theirs_min)).then_some(version)
    }
}

const fn range(api_key: ApiKey, min: i16, max: i16) -> ApiVersionRange {
    ApiVersionRange { api_key, min, max }
}

/// Every API kafkit's broker implements, in ApiKey order: the versions Kafka 4.1 serves to
/// clients (and its Java clients send), as the differential conformance suite checks.
pub const SUPPORTED_APIS: &[ApiVersionRange] = &[
    range(ApiKey::Produce, 3, 13),
    range(ApiKey::Fetch, 4, 18),
    range(ApiKey::ListOffsets, 1, 10),
    range(ApiKey::Metadata, 0, 13),
    range(ApiKey::OffsetCommit, 2, 9),
    range(ApiKey::OffsetFetch, 1, 9),
    range(ApiKey::FindCoordinator, 0, 6),
    range(ApiKey::JoinGroup, 0, 9),
    range(ApiKey::Heartbeat, 0, 4),
    range(ApiKey::LeaveGroup, 0, 5),
    range(ApiKey::SyncGroup, 0, 5),
    range(ApiKey::DescribeGroups, 0, 6),
    range(ApiKey::ListGroups, 0, 5),
    range(ApiKey::SaslHandshake, 0, 1),
    range(ApiKey::ApiVersions, 0, 4),
    range(ApiKey::CreateTopics, 2, 7),
    range(ApiKey::DeleteTopics, 1, 6),
    range(ApiKey::InitProducerId, 0, 5),
    range(ApiKey::AddPartitionsToTxn, 0, 5),
    range(ApiKey::AddOffsetsToTxn, 0, 4),
    range(ApiKey::EndTxn, 0, 5),
    range(ApiKey::TxnOffsetCommit, 0, 5),
    range(ApiKey::SaslAuthenticate, 0, 2),
    range(ApiKey::CreatePartitions, 0, 3),
    range(ApiKey::DeleteGroups, 0, 2),
    range(ApiKey::OffsetDelete, 0, 0),
    range(ApiKey::DescribeTransactions, 0, 0),
    range(ApiKey::ListTransactions, 0, 2),
    range(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    range(ApiKey::ConsumerGroupDescribe, 0, 1),
];

/// The consumer-group APIs: the classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
/// the offset and group administration around them, and KIP-848's consumer protocol
/// (ConsumerGroupHeartbeat, ConsumerGroupDescribe), in ApiKey order.
/// All are in [`SUPPORTED_APIS`], so the protocol layer decodes them; the broker decides when it
/// advertises them (a client that sees an API advertised uses it).
pub const GROUP_APIS: &[ApiKey] = &[
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::DeleteGroups,
    ApiKey::OffsetDelete,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
];

/// Whether `api_key` is one of the consumer-group APIs ([`GROUP_APIS`]).
pub fn is_group_api(api_key: ApiKey) -> bool {
    GROUP_APIS.contains(&api_key)
}

/// What kafkit's own clients (the producer, the test kit's read-back client) send, where that is
/// less than the broker serves: they name topics, so Produce stops below v13 and Fetch below v13,
/// the versions that name topics by id. The transactional producer speaks transactions as
/// Kafka's version 1 (KIP-98 with KIP-890 part 1's server-side checks): AddPartitionsToTxn v4+
/// is for brokers only, and EndTxn v5 and TxnOffsetCommit v5 are how a client announces
/// KIP-890 part 2 (an epoch bump per transaction), which it does not do. Negotiation takes the
/// smaller of this and the broker's range.
pub const CLIENT_APIS: &[ApiVersionRange] = &[
    range(ApiKey::Produce, 3, 12),
    range(ApiKey::Fetch, 4, 12),
    range(ApiKey::AddPartitionsToTxn, 0, 3),
    range(ApiKey::EndTxn, 0, 4),
    range(ApiKey::TxnOffsetCommit, 0, 4),
    // v0 of the handshake is followed by bare tokens, which kafkit's client does not send.
    range(ApiKey::SaslHandshake, 1, 1),
];

/// The range kafkit's broker serves for `api_key`, if it serves that API at all.
pub fn supported_range(api_key: ApiKey) -> Option<ApiVersionRange> {
    SUPPORTED_APIS.iter().copied().find(|r| r.api_key == api_key)
}

/// The range kafkit's clients send for `api_key`: [`CLIENT_APIS`] where it names the API, else
/// what the broker serves.
pub fn client_range(api_key: ApiKey) -> Option<ApiVersionRange> {
    CLIENT_APIS
        .iter()
        .copied()
        .find(|r| r.api_key == api_key)
        .or_else(|| supported_range(api_key))
}

/// Whether kafkit serves `api_key` at `version`.
pub fn is_supported(api_key: ApiKey, version: i16) -> bool {
    supported_range(api_key).is_some_and(|r| r.contains(version))
}

/// The KIP-511 reply to an ApiVersions request of a version kafkit does not serve: response
/// header v0 and an ApiVersionsResponse v0 body carrying UNSUPPORTED_VERSION and only the
/// ApiVersions range, so the client can retry at a version we do serve. Returned without the
/// 4-byte length prefix.
///
/// ```
/// let body = kafkit_protocol::versions::unsupported_api_versions_response(42);
/// assert_eq!(&body[..], &[0, 0, 0, 42, 0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4]);
/// ```
pub fn unsupported_api_versions_response(correlation_id: i32) -> Bytes {
    let api_versions = supported_range(ApiKey::ApiVersions).unwrap_or(range(ApiKey::ApiVersions, 0, 0)); // invariant: ApiVersions is in the table
    let mut out = BytesMut::with_capacity(16);
    out.put_i32(correlation_id);
    out.put_i16(ErrorCode::UnsupportedVersion.code());
    out.put_i32(1);
    out.put_i16(ApiKey::ApiVersions as i16);
    out.put_i16(api_versions.min);
    out.put_i16(api_versions.max);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn table_is_in_api_key_order_and_well_formed() {
        for pair in SUPPORTED_APIS.windows(2) {
            assert!((pair[0].api_key as i16) < (pair[1].api_key as i16));
        }
        for r in SUPPORTED_APIS {
            assert!(r.min <= r.max, "{:?}", r);
        }
    }

    #[test]
    fn table_stays_inside_what_the_crate_decodes() {
        for r in SUPPORTED_APIS {
            let crate_range = r.api_key.valid_versions();
            assert!(r.min >= crate_range.min && r.max <= crate_range.max, "{:?}", r);
        }
    }

    #[test]
    fn kip511_reply_decodes_as_v0_response() {
        let mut body = unsupported_api_versions_response(7).slice(4..);
        let resp = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
        assert_eq!(resp.error_code, 35);
        assert_eq!(resp.api_keys.len(), 1);
        assert_eq!(resp.api_keys[0].api_key, 18);
        assert_eq!(
            (resp.api_keys[0].min_version, resp.api_keys[0].max_version),
            (0, 4)
        );
    }

    #[test]
    fn negotiation_follows_java() {
        let produce = supported_range(ApiKey::Produce).expect("produce");
        assert_eq!(produce.negotiate(0, 7), Some(7));
        assert_eq!(produce.negotiate(3, 15), Some(13));
        assert_eq!(produce.negotiate(0, 2), None);
        assert_eq!(produce.negotiate(14, 15), None);
    }

    /// The group APIs are decoded at the versions Kafka 4.1 serves and current clients
    /// send (OffsetCommit and OffsetFetch stop at v9: the crate decodes no request topic ids).
    #[test]
    fn group_apis_are_in_the_table_at_kafkas_versions() {
        let expected = [
            (ApiKey::OffsetCommit, 2, 9),
            (ApiKey::OffsetFetch, 1, 9),
            (ApiKey::JoinGroup, 0, 9),
            (ApiKey::Heartbeat, 0, 4),
            (ApiKey::LeaveGroup, 0, 5),
            (ApiKey::SyncGroup, 0, 5),
            (ApiKey::DescribeGroups, 0, 6),
            (ApiKey::ListGroups, 0, 5),
            (ApiKey::DeleteGroups, 0, 2),
            (ApiKey::OffsetDelete, 0, 0),
            (ApiKey::ConsumerGroupHeartbeat, 0, 1),
            (ApiKey::ConsumerGroupDescribe, 0, 1),
        ];
        let listed: Vec<ApiKey> = expected.iter().map(|&(k, _, _)| k).collect();
        assert_eq!(GROUP_APIS, &listed[..]);
        for (api_key, min, max) in expected {
            assert_eq!(supported_range(api_key), Some(range(api_key, min, max)));
            assert!(is_group_api(api_key));
        }
        assert!(!is_group_api(ApiKey::FindCoordinator));
        assert!(!is_group_api(ApiKey::Produce));
    }

    /// kafkit's clients name topics: they stop below the versions that name them by id.
    #[test]
    fn clients_send_what_names_topics() {
        let produce = client_range(ApiKey::Produce).expect("produce");
        assert_eq!(produce.negotiate(3, 13), Some(12));
        let fetch = client_range(ApiKey::Fetch).expect("fetch");
        assert_eq!(fetch.negotiate(4, 18), Some(12));
        assert_eq!(client_range(ApiKey::Metadata), supported_range(ApiKey::Metadata));
        for c in CLIENT_APIS {
            let served = supported_range(c.api_key).expect("served");
            assert!(served.min <= c.min && c.max <= served.max, "{c:?}");
        }
    }
}
