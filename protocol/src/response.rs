//! Decoding the responses kafkit's producer and test kit receive from a broker, which may be a
//! real Kafka, kafkit's own broker under fault injection, or anything listening on the address.
//!
//! The same guard as for requests (see `wire_shape.rs`): a response header and body are walked
//! against their shapes before kafka-protocol 0.18.0 decodes them, so no frame can make the
//! crate panic or reserve memory the frame does not back. Decoding is zero-copy.
//!
//! [`decode_response`] is typed by the response: the caller knows from its in-flight request
//! which API and version the next frame answers, and [`GuardedResponse`] ties each response type
//! to its api key and shape, so only the responses kafkit has shapes for can be decoded.
//!
//! An ApiVersions response is special (KIP-511): a broker that does not serve the requested
//! version answers with a v0 body carrying UNSUPPORTED_VERSION (35), whatever version was asked
//! for, and the crate cannot decode that at the requested version. When an ApiVersions body
//! starts with error code 35 it is therefore decoded as v0, as Java's client does.
//!
//! # References
//! - KIP-511 (ApiVersions fallback), KIP-482 (response header v1)
//! - reference/protocol-and-clients.md §1.7 (the crate's known bugs), §2.5

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiKey, ApiVersionsResponse,
    ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatResponse, CreatePartitionsResponse,
    CreateTopicsResponse, DeleteGroupsResponse, DeleteTopicsResponse, DescribeGroupsResponse,
    DescribeTransactionsResponse, EndTxnResponse, FetchResponse, FindCoordinatorResponse, HeartbeatResponse,
    InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse, ListGroupsResponse, ListOffsetsResponse,
    ListTransactionsResponse, MetadataResponse, OffsetCommitResponse, OffsetDeleteResponse,
    OffsetFetchResponse, ProduceResponse, ResponseHeader, SaslAuthenticateResponse, SaslHandshakeResponse,
    SyncGroupResponse, TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion};

use crate::wire_shape::{decode_guarded, response_shape, Tags, RESPONSE_HEADER};
use crate::{versions, Error, ErrorCode, Result};

/// A response kafkit knows the wire shape of, and so can decode without trusting its counts.
///
/// Implemented for the responses of every API in [`versions::SUPPORTED_APIS`]; sealed.
pub trait GuardedResponse: Decodable + HeaderVersion + sealed::Sealed {
    /// The API this is the response of.
    const API_KEY: ApiKey;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! guarded_responses {
    ($($response:ty => $api_key:ident,)*) => {$(
        impl sealed::Sealed for $response {}
        impl GuardedResponse for $response {
            const API_KEY: ApiKey = ApiKey::$api_key;
        }
    )*};
}

guarded_responses! {
    ProduceResponse => Produce,
    FetchResponse => Fetch,
    ListOffsetsResponse => ListOffsets,
    MetadataResponse => Metadata,
    OffsetCommitResponse => OffsetCommit,
    OffsetFetchResponse => OffsetFetch,
    FindCoordinatorResponse => FindCoordinator,
    JoinGroupResponse => JoinGroup,
    HeartbeatResponse => Heartbeat,
    LeaveGroupResponse => LeaveGroup,
    SyncGroupResponse => SyncGroup,
    DescribeGroupsResponse => DescribeGroups,
    ListGroupsResponse => ListGroups,
    ApiVersionsResponse => ApiVersions,
    CreateTopicsResponse => CreateTopics,
    DeleteTopicsResponse => DeleteTopics,
    InitProducerIdResponse => InitProducerId,
    AddPartitionsToTxnResponse => AddPartitionsToTxn,
    EndTxnResponse => EndTxn,
    AddOffsetsToTxnResponse => AddOffsetsToTxn,
    TxnOffsetCommitResponse => TxnOffsetCommit,
    CreatePartitionsResponse => CreatePartitions,
    DeleteGroupsResponse => DeleteGroups,
    OffsetDeleteResponse => OffsetDelete,
    SaslHandshakeResponse => SaslHandshake,
    SaslAuthenticateResponse => SaslAuthenticate,
    DescribeTransactionsResponse => DescribeTransactions,
    ListTransactionsResponse => ListTransactions,
    ConsumerGroupHeartbeatResponse => ConsumerGroupHeartbeat,
    ConsumerGroupDescribeResponse => ConsumerGroupDescribe,
}

/// A decoded response: its header and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<T> {
    /// The response header (v0, or v1 in flexible versions; always v0 for ApiVersions).
    pub header: ResponseHeader,
    /// The response body.
    pub body: T,
}

/// Decodes one response frame (without its length prefix) answering a request of `T`'s API at
/// `version`, zero-copy.
///
/// Errors: [`Error::UnsupportedVersion`] if kafkit does not serve `version` of the API (the
/// version must come from negotiation against [`versions::SUPPORTED_APIS`]), and
/// [`Error::Malformed`] for a header or body that does not decode. Trailing bytes are ignored.
///
/// ```
/// use kafkit_protocol::kafka_protocol::messages::ApiVersionsResponse;
/// use kafkit_protocol::response::decode_response;
/// use kafkit_protocol::versions::unsupported_api_versions_response;
///
/// // A broker's KIP-511 answer to ApiVersions v4 is a v0 body with UNSUPPORTED_VERSION.
/// let frame = unsupported_api_versions_response(7);
/// let response = decode_response::<ApiVersionsResponse>(frame, 4)?;
/// assert_eq!(response.header.correlation_id, 7);
/// assert_eq!(response.body.error_code, 35);
/// # Ok::<(), kafkit_protocol::Error>(())
/// ```
pub fn decode_response<T: GuardedResponse>(frame: Bytes, version: i16) -> Result<Response<T>> {
    check_version::<T>(version)?;
    let mut buf = frame;
    let header_version = T::header_version(version);
    let header = decode_guarded(
        &RESPONSE_HEADER,
        header_version,
        &mut buf,
        T::API_KEY as i16,
        version,
        Tags::Lenient,
    )?;
    let body = decode_response_body(buf, version)?;
    Ok(Response { header, body })
}

/// Decodes a response body (after its header) answering a request of `T`'s API at `version`,
/// zero-copy. For callers that have split the header off themselves; see [`decode_response`].
pub fn decode_response_body<T: GuardedResponse>(body: Bytes, version: i16) -> Result<T> {
    check_version::<T>(version)?;
    let api_key = T::API_KEY as i16;
    // Invariant: every GuardedResponse has a shape (tested); without one we refuse.
    let shape = response_shape(T::API_KEY).ok_or(Error::UnsupportedVersion { api_key, version })?;
    let body_version = if is_kip511_fallback::<T>(&body) {
        0
    } else {
        version
    };
    let mut buf = body;
    decode_guarded(
        shape,
        body_version,
        &mut buf,
        api_key,
        body_version,
        Tags::Lenient,
    )
}

fn check_version<T: GuardedResponse>(version: i16) -> Result<()> {
    if versions::is_supported(T::API_KEY, version) {
        Ok(())
    } else {
        Err(Error::UnsupportedVersion {
            api_key: T::API_KEY as i16,
            version,
        })
    }
}

/// Whether `body` is a broker's KIP-511 answer: an ApiVersions body whose error code (its first
/// field in every version) is UNSUPPORTED_VERSION, sent as v0 whatever version was asked for.
fn is_kip511_fallback<T: GuardedResponse>(body: &[u8]) -> bool {
    T::API_KEY == ApiKey::ApiVersions
        && body.get(..2) == Some(&ErrorCode::UnsupportedVersion.code().to_be_bytes()[..])
}

#[cfg(test)]
mod samples;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_response_frame, split_frame};
    use crate::wire_shape::walk;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::Encodable;
    use proptest::prelude::*;
    use rstest::rstest;
    use std::fmt::Debug;

    const CORRELATION_ID: i32 = 0x0a0b_0c0d;

    fn served(api_key: ApiKey) -> std::ops::RangeInclusive<i16> {
        let range = versions::supported_range(api_key).expect("served");
        range.min..=range.max
    }

    /// A whole frame (without its length prefix) for `body`.
    fn frame<T: GuardedResponse + Encodable>(version: i16, body: &T) -> Bytes {
        let mut dst = BytesMut::new();
        encode_response_frame(&mut dst, CORRELATION_ID, version, body).expect("encodes");
        split_frame(&mut dst, usize::MAX)
            .expect("valid")
            .expect("complete")
    }

    /// Round-trips `sample(v)` for every served version of `T`'s API, checking that the walk
    /// covers the body exactly; returns the API for the coverage check.
    fn round_trip<T>(sample: fn(i16) -> T) -> ApiKey
    where
        T: GuardedResponse + Encodable + PartialEq + Debug,
    {
        for version in served(T::API_KEY) {
            let body = sample(version);
            let frame = frame(version, &body);
            let header_size = if T::header_version(version) >= 1 { 5 } else { 4 };
            let body_bytes = &frame[header_size..];
            let shape = response_shape(T::API_KEY).expect("shape");
            let walked = walk(shape, version, body_bytes);
            assert_eq!(walked.ok(), Some(body_bytes.len()), "{:?} v{version}", T::API_KEY);

            let response = decode_response::<T>(frame, version)
                .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", T::API_KEY));
            assert_eq!(response.header.correlation_id, CORRELATION_ID);
            assert_eq!(response.body, body, "{:?} v{version}", T::API_KEY);
        }
        T::API_KEY
    }

    /// The walker and the crate agree on every served version of every served response.
    #[test]
    fn every_served_version_round_trips() {
        let covered = [
            round_trip(samples::produce),
            round_trip(samples::fetch),
            round_trip(samples::list_offsets),
            round_trip(samples::metadata),
            round_trip(samples::offset_commit),
            round_trip(samples::offset_fetch),
            round_trip(samples::find_coordinator),
            round_trip(samples::join_group),
            round_trip(samples::heartbeat),
            round_trip(samples::leave_group),
            round_trip(samples::sync_group),
            round_trip(samples::describe_groups),
            round_trip(samples::list_groups),
            round_trip(samples::sasl_handshake),
            round_trip(samples::api_versions),
            round_trip(samples::create_topics),
            round_trip(samples::delete_topics),
            round_trip(samples::init_producer_id),
            round_trip(samples::add_partitions_to_txn),
            round_trip(samples::add_offsets_to_txn),
            round_trip(samples::end_txn),
            round_trip(samples::txn_offset_commit),
            round_trip(samples::sasl_authenticate),
            round_trip(samples::create_partitions),
            round_trip(samples::delete_groups),
            round_trip(samples::offset_delete),
            round_trip(samples::describe_transactions),
            round_trip(samples::list_transactions),
            round_trip(samples::consumer_group_heartbeat),
            round_trip(samples::consumer_group_describe),
        ];
        let served: Vec<ApiKey> = versions::SUPPORTED_APIS.iter().map(|r| r.api_key).collect();
        assert_eq!(covered.to_vec(), served);
    }

    /// A broker that sends a field early (tansu: a Fetch v12 answer carrying v16's tagged
    /// `node_endpoints`, which the crate refuses with "Tag 0 is not valid for version 12") is
    /// read as if the tag were unknown: it is dropped, the rest decodes, and truly unknown tags
    /// are kept. The same in a partition's own tagged fields.
    #[test]
    fn a_tag_of_a_later_version_is_dropped_not_refused() {
        // The sample ends with its top-level tagged fields: one entry, unknown tag 42.
        let sent = frame(12, &samples::fetch(12));
        let tail = [0x01, 0x2a, 0x06, b'f', b'u', b't', b'u', b'r', b'e'];
        assert!(sent.ends_with(&tail));
        let mut early = sent[..sent.len() - tail.len()].to_vec();
        early.extend_from_slice(&[0x02, 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x02]);
        early.extend_from_slice(&tail[1..]);
        let response = decode_response::<FetchResponse>(Bytes::from(early), 12).expect("decodes leniently");
        assert_eq!(
            response.body,
            samples::fetch(12),
            "as sent, the unknown tag 42 kept"
        );

        // Produce v9: one partition whose tagged fields hold tag 0, v10's `current_leader`.
        let body = [
            0x02, 0x02, b't', // one topic, "t"
            0x02, 0, 0, 0, 1, 0, 0, // one partition: index 1, error 0
            0, 0, 0, 0, 0, 0, 0, 9, // base offset 9
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log append time -1
            0, 0, 0, 0, 0, 0, 0, 0, // log start offset 0
            0x01, 0x00, // no record errors, null message
            0x01, 0x00, 0x01, 0xff, // tagged fields: tag 0, one byte
            0x00, // the topic's tagged fields
            0, 0, 0, 0,    // throttle
            0x00, // tagged fields
        ];
        let response =
            decode_response::<ProduceResponse>(with_header(true, &body), 9).expect("decodes leniently");
        let p = &response.body.responses[0].partition_responses[0];
        assert_eq!((p.index, p.base_offset, p.current_leader.leader_id.0), (1, 9, -1));
    }

    #[test]
    fn decoding_is_zero_copy() {
        let frame = frame(12, &samples::fetch(12));
        let range = frame.as_ptr_range();
        let response = decode_response::<FetchResponse>(frame.clone(), 12).expect("decodes");
        let records = response.body.responses[0].partitions[0]
            .records
            .as_ref()
            .expect("records");
        assert!(
            range.contains(&records.as_ptr()),
            "records are a slice of the frame"
        );
    }

    fn assert_every_truncation_fails<T: GuardedResponse + Encodable>(version: i16, body: &T) {
        let frame = frame(version, body);
        for len in 0..frame.len() {
            let result = decode_response::<T>(frame.slice(..len), version);
            assert!(result.is_err(), "{:?} v{version} cut at {len}", T::API_KEY);
        }
    }

    /// Every strict prefix of a valid frame is an error, never a panic.
    #[test]
    fn every_truncation_is_an_error() {
        assert_every_truncation_fails(10, &samples::produce(10));
        assert_every_truncation_fails(12, &samples::fetch(12));
        assert_every_truncation_fails(4, &samples::fetch(4));
        assert_every_truncation_fails(12, &samples::metadata(12));
        assert_every_truncation_fails(1, &samples::metadata(1));
        assert_every_truncation_fails(3, &samples::api_versions(3));
        assert_every_truncation_fails(4, &samples::find_coordinator(4));
        assert_every_truncation_fails(2, &samples::offset_commit(2));
        assert_every_truncation_fails(9, &samples::offset_commit(9));
        assert_every_truncation_fails(5, &samples::offset_fetch(5));
        assert_every_truncation_fails(9, &samples::offset_fetch(9));
        assert_every_truncation_fails(5, &samples::join_group(5));
        assert_every_truncation_fails(9, &samples::join_group(9));
        assert_every_truncation_fails(3, &samples::leave_group(3));
        assert_every_truncation_fails(5, &samples::sync_group(5));
        assert_every_truncation_fails(6, &samples::describe_groups(6));
        assert_every_truncation_fails(5, &samples::list_groups(5));
        assert_every_truncation_fails(0, &samples::offset_delete(0));
        assert_every_truncation_fails(3, &samples::add_partitions_to_txn(3));
        assert_every_truncation_fails(5, &samples::add_partitions_to_txn(5));
        assert_every_truncation_fails(5, &samples::end_txn(5));
        assert_every_truncation_fails(4, &samples::add_offsets_to_txn(4));
        assert_every_truncation_fails(5, &samples::txn_offset_commit(5));
        assert_every_truncation_fails(0, &samples::describe_transactions(0));
        assert_every_truncation_fails(2, &samples::list_transactions(2));
        assert_every_truncation_fails(1, &samples::consumer_group_heartbeat(1));
        assert_every_truncation_fails(0, &samples::consumer_group_heartbeat_error(0));
        assert_every_truncation_fails(1, &samples::consumer_group_describe(1));
    }

    fn malformed<T: Debug>(result: Result<T>) -> String {
        match result {
            Err(e @ Error::Malformed { .. }) => e.to_string(),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    fn with_header(header_v1: bool, body: &[u8]) -> Bytes {
        let mut frame = BytesMut::new();
        frame.put_i32(CORRELATION_ID);
        if header_v1 {
            frame.put_u8(0);
        }
        frame.put_slice(body);
        frame.freeze()
    }

    #[test]
    fn metadata_v1_claiming_2_billion_brokers_is_refused() {
        let frame = with_header(false, &[0x7f, 0xff, 0xff, 0xff]);
        let error = malformed(decode_response::<MetadataResponse>(frame, 1));
        assert!(
            error.contains("Metadata response (api key 3, version 1): brokers: array"),
            "{error}"
        );
    }

    #[rstest]
    #[case::classic_aborted_transactions(4, &[
        0, 0, 0, 0, // throttle
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, // one topic "t", one partition
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // index, error, hw, lso
        0x7f, 0xff, 0xff, 0xff, // aborted transactions
    ], "responses.partitions.aborted_transactions: array of 2147483647")]
    #[case::classic_records(4, &[
        0, 0, 0, 0,
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff, 0xff, 0xff, // null aborted transactions
        0x7f, 0xff, 0xff, 0xff, // records
    ], "responses.partitions.records: 2147483647 bytes declared")]
    #[case::compact_responses(12, &[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // throttle, error, session
        0xff, 0xff, 0xff, 0xff, 0x0f,
    ], "responses: array of 4294967294")]
    fn fetch_with_hostile_counts_is_refused(
        #[case] version: i16,
        #[case] body: &[u8],
        #[case] expected: &str,
    ) {
        let frame = with_header(version >= 12, body);
        let error = malformed(decode_response::<FetchResponse>(frame, version));
        assert!(error.contains(expected), "{error}");
    }

    #[test]
    fn produce_v10_node_endpoints_tag_with_a_huge_count_is_refused() {
        let body = [
            1, // no topics
            0, 0, 0, 0, // throttle
            1, 0, 5, // one tagged field: tag 0 (node_endpoints), 5 bytes
            0xff, 0xff, 0xff, 0xff, 0x0f, // an array of 2^32 - 2 endpoints
        ];
        let error = malformed(decode_response::<ProduceResponse>(with_header(true, &body), 10));
        assert!(
            error.contains("_tagged_fields.node_endpoints: array of 4294967294"),
            "{error}"
        );
    }

    /// The known tagged fields that hold arrays are walked, not skipped: the crate decodes them
    /// from the stream without looking at their size.
    #[rstest]
    #[case::supported_features(0, "supported_features")]
    #[case::finalized_features(2, "finalized_features")]
    fn api_versions_v3_feature_tags_with_huge_counts_are_refused(#[case] tag: u8, #[case] field: &str) {
        let body = [
            0, 0, // error code
            1, // no api keys
            0, 0, 0, 0, // throttle
            1, tag, 5, 0xff, 0xff, 0xff, 0xff, 0x0f, // one tagged field: 2^32 - 2 features
        ];
        let frame = with_header(false, &body);
        let error = malformed(decode_response::<ApiVersionsResponse>(frame, 3));
        let expected = format!("_tagged_fields.{field}: array of 4294967294");
        assert!(error.contains(&expected), "{error}");
    }

    #[test]
    fn produce_v9_drops_tag_0_of_v10() {
        // node_endpoints only exists from v10; at v9 tag 0 is dropped before the crate, which
        // would refuse it.
        let body = [1, 0, 0, 0, 0, 1, 0, 1, 0xff];
        let response = decode_response::<ProduceResponse>(with_header(true, &body), 9).expect("decodes");
        assert!(response.body.node_endpoints.is_empty() && response.body.responses.is_empty());
    }

    #[rstest]
    #[case::empty(&[])]
    #[case::three_bytes(&[0, 0, 0])]
    fn frames_shorter_than_a_response_header_are_malformed(#[case] bytes: &'static [u8]) {
        let error = malformed(decode_response::<InitProducerIdResponse>(
            Bytes::from_static(bytes),
            0,
        ));
        assert!(error.starts_with("malformed response header"), "{error}");
    }

    #[test]
    fn response_header_v1_with_a_huge_tag_count_is_malformed() {
        let frame = Bytes::from_static(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        let error = malformed(decode_response::<ProduceResponse>(frame, 9));
        assert!(
            error.contains("response header (api key 0, version 9): _tagged_fields"),
            "{error}"
        );
    }

    #[rstest]
    #[case::produce_v2(2)]
    #[case::produce_v14(14)]
    fn unserved_versions_are_refused(#[case] version: i16) {
        let frame = with_header(false, &[0; 16]);
        let error = decode_response::<ProduceResponse>(frame, version).expect_err("refused");
        assert!(matches!(error, Error::UnsupportedVersion { api_key: 0, version: v } if v == version));
    }

    #[rstest]
    #[case::asked_v0(0)]
    #[case::asked_v3(3)]
    #[case::asked_v4(4)]
    fn kip511_v0_fallback_body_decodes_at_any_version(#[case] version: i16) {
        let frame = versions::unsupported_api_versions_response(9);
        let response = decode_response::<ApiVersionsResponse>(frame, version).expect("decodes");
        assert_eq!(response.header.correlation_id, 9);
        assert_eq!(response.body.error_code, 35);
        let api_versions = &response.body.api_keys[0];
        assert_eq!(
            (
                api_versions.api_key,
                api_versions.min_version,
                api_versions.max_version
            ),
            (18, 0, 4)
        );
    }

    /// Decodes `frame` as the response of `api_key`, discarding the result.
    fn decode_any(api_key: ApiKey, frame: Bytes, version: i16) {
        let _ = match api_key {
            ApiKey::Produce => decode_response::<ProduceResponse>(frame, version).map(drop),
            ApiKey::Fetch => decode_response::<FetchResponse>(frame, version).map(drop),
            ApiKey::ListOffsets => decode_response::<ListOffsetsResponse>(frame, version).map(drop),
            ApiKey::Metadata => decode_response::<MetadataResponse>(frame, version).map(drop),
            ApiKey::OffsetCommit => decode_response::<OffsetCommitResponse>(frame, version).map(drop),
            ApiKey::OffsetFetch => decode_response::<OffsetFetchResponse>(frame, version).map(drop),
            ApiKey::FindCoordinator => decode_response::<FindCoordinatorResponse>(frame, version).map(drop),
            ApiKey::JoinGroup => decode_response::<JoinGroupResponse>(frame, version).map(drop),
            ApiKey::Heartbeat => decode_response::<HeartbeatResponse>(frame, version).map(drop),
            ApiKey::LeaveGroup => decode_response::<LeaveGroupResponse>(frame, version).map(drop),
            ApiKey::SyncGroup => decode_response::<SyncGroupResponse>(frame, version).map(drop),
            ApiKey::DescribeGroups => decode_response::<DescribeGroupsResponse>(frame, version).map(drop),
            ApiKey::ListGroups => decode_response::<ListGroupsResponse>(frame, version).map(drop),
            ApiKey::ApiVersions => decode_response::<ApiVersionsResponse>(frame, version).map(drop),
            ApiKey::CreateTopics => decode_response::<CreateTopicsResponse>(frame, version).map(drop),
            ApiKey::DeleteTopics => decode_response::<DeleteTopicsResponse>(frame, version).map(drop),
            ApiKey::InitProducerId => decode_response::<InitProducerIdResponse>(frame, version).map(drop),
            ApiKey::AddPartitionsToTxn => {
                decode_response::<AddPartitionsToTxnResponse>(frame, version).map(drop)
            }
            ApiKey::EndTxn => decode_response::<EndTxnResponse>(frame, version).map(drop),
            ApiKey::AddOffsetsToTxn => decode_response::<AddOffsetsToTxnResponse>(frame, version).map(drop),
            ApiKey::TxnOffsetCommit => decode_response::<TxnOffsetCommitResponse>(frame, version).map(drop),
            ApiKey::CreatePartitions => decode_response::<CreatePartitionsResponse>(frame, version).map(drop),
            ApiKey::DeleteGroups => decode_response::<DeleteGroupsResponse>(frame, version).map(drop),
            ApiKey::OffsetDelete => decode_response::<OffsetDeleteResponse>(frame, version).map(drop),
            ApiKey::SaslHandshake => decode_response::<SaslHandshakeResponse>(frame, version).map(drop),
            ApiKey::SaslAuthenticate => decode_response::<SaslAuthenticateResponse>(frame, version).map(drop),
            ApiKey::DescribeTransactions => {
                decode_response::<DescribeTransactionsResponse>(frame, version).map(drop)
            }
            ApiKey::ListTransactions => decode_response::<ListTransactionsResponse>(frame, version).map(drop),
            ApiKey::ConsumerGroupHeartbeat => {
                decode_response::<ConsumerGroupHeartbeatResponse>(frame, version).map(drop)
            }
            ApiKey::ConsumerGroupDescribe => {
                decode_response::<ConsumerGroupDescribeResponse>(frame, version).map(drop)
            }
            other => panic!("not served: {other:?}"),
        };
    }

    fn served_strategy() -> impl Strategy<Value = (ApiKey, i16)> {
        let all: Vec<(ApiKey, i16)> = versions::SUPPORTED_APIS
            .iter()
            .flat_map(|r| (r.min..=r.max).map(move |v| (r.api_key, v)))
            .collect();
        proptest::sample::select(all)
    }

    proptest! {
        /// Random bytes after a valid response header never panic, whatever the API and version.
        #[test]
        fn random_bodies_never_panic(
            (api_key, version) in served_strategy(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let header_v1 = api_key.response_header_version(version) >= 1;
            decode_any(api_key, with_header(header_v1, &body), version);
        }
    }
}
