//! Decoding the requests kafkit's broker serves, from frames sent by peers it does not trust.
//!
//! [`decode_request`] takes a frame body (as returned by [`crate::frame::split_frame`]) and
//! returns the request header and a [`RequestBody`], one variant per API in
//! [`crate::versions::SUPPORTED_APIS`]. It never panics and never lets kafka-protocol 0.18.0
//! reserve memory the frame does not back: the crate's header decoder panics on a frame shorter
//! than four bytes, and its array decoders reserve whatever count the wire claims (a four-byte
//! body can abort the process), so the length is checked first and every header and body is
//! walked against its shape before the crate sees it (see `wire_shape.rs`). Everything else the
//! crate decodes zero-copy: strings and records in the result are slices of the frame.
//!
//! An ApiVersions request at a version kafkit does not serve is not an error: as Kafka does
//! (KIP-511), only its header is parsed and it comes back as
//! [`RequestBody::UnsupportedApiVersions`], to be answered with
//! [`crate::versions::unsupported_api_versions_response`]. Any other unknown key or unserved
//! version is an error, after which Kafka closes the connection.
//!
//! # References
//! - KIP-511 (ApiVersions fallback), KIP-482 (request header v2)
//! - reference/protocol-and-clients.md §1.7 (the crate's known bugs), §2.5

use bytes::Bytes;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, ApiVersionsRequest,
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, CreatePartitionsRequest,
    CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest, DescribeGroupsRequest,
    DescribeTransactionsRequest, EndTxnRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest,
    ListTransactionsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    ProduceRequest, RequestHeader, SaslAuthenticateRequest, SaslHandshakeRequest, SyncGroupRequest,
    TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::Decodable;

use crate::wire_shape::{decode_guarded, request_shape, Tags, REQUEST_HEADER};
use crate::{versions, Error, Result};

/// The smallest request header: api key, api version, correlation id, client id length.
pub const MIN_REQUEST_HEADER_SIZE: usize = 10;

/// A decoded request: its header and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request header (v1, or v2 in flexible versions).
    pub header: RequestHeader,
    /// The request body.
    pub body: RequestBody,
}

impl Request {
    /// The request's api key, as sent.
    pub fn api_key(&self) -> i16 {
        self.header.request_api_key
    }

    /// The request's version, as sent.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The correlation id the response must carry.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// The body of a request kafkit serves, one variant per API in ApiKey order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestBody {
    /// Produce (ApiKey 0).
    Produce(ProduceRequest),
    /// Fetch (ApiKey 1).
    Fetch(FetchRequest),
    /// ListOffsets (ApiKey 2).
    ListOffsets(ListOffsetsRequest),
    /// Metadata (ApiKey 3).
    Metadata(MetadataRequest),
    /// OffsetCommit (ApiKey 8).
    OffsetCommit(OffsetCommitRequest),
    /// OffsetFetch (ApiKey 9).
    OffsetFetch(OffsetFetchRequest),
    /// FindCoordinator (ApiKey 10).
    FindCoordinator(FindCoordinatorRequest),
    /// JoinGroup (ApiKey 11).
    JoinGroup(JoinGroupRequest),
    /// Heartbeat (ApiKey 12).
    Heartbeat(HeartbeatRequest),
    /// LeaveGroup (ApiKey 13).
    LeaveGroup(LeaveGroupRequest),
    /// SyncGroup (ApiKey 14).
    SyncGroup(SyncGroupRequest),
    /// DescribeGroups (ApiKey 15).
    DescribeGroups(DescribeGroupsRequest),
    /// ListGroups (ApiKey 16).
    ListGroups(ListGroupsRequest),
    /// SaslHandshake (ApiKey 17).
    SaslHandshake(SaslHandshakeRequest),
    /// ApiVersions (ApiKey 18) at a served version.
    ApiVersions(ApiVersionsRequest),
    /// CreateTopics (ApiKey 19).
    CreateTopics(CreateTopicsRequest),
    /// DeleteTopics (ApiKey 20).
    DeleteTopics(DeleteTopicsRequest),
    /// InitProducerId (ApiKey 22).
    InitProducerId(InitProducerIdRequest),
    /// AddPartitionsToTxn (ApiKey 24).
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// AddOffsetsToTxn (ApiKey 25).
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// EndTxn (ApiKey 26).
    EndTxn(EndTxnRequest),
    /// TxnOffsetCommit (ApiKey 28).
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// SaslAuthenticate (ApiKey 36).
    SaslAuthenticate(SaslAuthenticateRequest),
    /// CreatePartitions (ApiKey 37).
    CreatePartitions(CreatePartitionsRequest),
    /// DeleteGroups (ApiKey 42).
    DeleteGroups(DeleteGroupsRequest),
    /// OffsetDelete (ApiKey 47).
    OffsetDelete(OffsetDeleteRequest),
    /// DescribeTransactions (ApiKey 65).
    DescribeTransactions(DescribeTransactionsRequest),
    /// ListTransactions (ApiKey 66).
    ListTransactions(ListTransactionsRequest),
    /// ConsumerGroupHeartbeat (ApiKey 68, KIP-848).
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    /// ConsumerGroupDescribe (ApiKey 69, KIP-848).
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest),
    /// ApiVersions at a version kafkit does not serve: the header was parsed, the body was not.
    /// Answer with [`versions::unsupported_api_versions_response`] (KIP-511).
    UnsupportedApiVersions,
}

impl RequestBody {
    /// The API this body belongs to.
    pub fn api_key(&self) -> ApiKey {
        match self {
            RequestBody::Produce(_) => ApiKey::Produce,
            RequestBody::Fetch(_) => ApiKey::Fetch,
            RequestBody::ListOffsets(_) => ApiKey::ListOffsets,
            RequestBody::Metadata(_) => ApiKey::Metadata,
            RequestBody::OffsetCommit(_) => ApiKey::OffsetCommit,
            RequestBody::OffsetFetch(_) => ApiKey::OffsetFetch,
            RequestBody::FindCoordinator(_) => ApiKey::FindCoordinator,
            RequestBody::JoinGroup(_) => ApiKey::JoinGroup,
            RequestBody::Heartbeat(_) => ApiKey::Heartbeat,
            RequestBody::LeaveGroup(_) => ApiKey::LeaveGroup,
            RequestBody::SyncGroup(_) => ApiKey::SyncGroup,
            RequestBody::DescribeGroups(_) => ApiKey::DescribeGroups,
            RequestBody::ListGroups(_) => ApiKey::ListGroups,
            RequestBody::ApiVersions(_) | RequestBody::UnsupportedApiVersions => ApiKey::ApiVersions,
            RequestBody::CreateTopics(_) => ApiKey::CreateTopics,
            RequestBody::DeleteTopics(_) => ApiKey::DeleteTopics,
            RequestBody::InitProducerId(_) => ApiKey::InitProducerId,
            RequestBody::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            RequestBody::EndTxn(_) => ApiKey::EndTxn,
            RequestBody::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            RequestBody::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            RequestBody::SaslHandshake(_) => ApiKey::SaslHandshake,
            RequestBody::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
            RequestBody::CreatePartitions(_) => ApiKey::CreatePartitions,
            RequestBody::DeleteGroups(_) => ApiKey::DeleteGroups,
            RequestBody::OffsetDelete(_) => ApiKey::OffsetDelete,
            RequestBody::DescribeTransactions(_) => ApiKey::DescribeTransactions,
            RequestBody::ListTransactions(_) => ApiKey::ListTransactions,
            RequestBody::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
            RequestBody::ConsumerGroupDescribe(_) => ApiKey::ConsumerGroupDescribe,
        }
    }
}

/// Decodes one request frame (without its length prefix), zero-copy.
///
/// Errors, each of which should cost the peer its connection: [`Error::FrameTooShort`] below
/// [`MIN_REQUEST_HEADER_SIZE`], [`Error::UnknownApiKey`], [`Error::UnsupportedVersion`] for an
/// API or version kafkit does not serve (except ApiVersions, see
/// [`RequestBody::UnsupportedApiVersions`]), and [`Error::Malformed`] for anything that does not
/// decode. Trailing bytes after the body are ignored, as the crate and Kafka do.
///
/// ```
/// use kafkit_protocol::request::{decode_request, RequestBody};
///
/// // ApiVersions v0, correlation id 7, client id "c", empty body.
/// let frame = bytes::Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b'c']);
/// let request = decode_request(frame)?;
/// assert_eq!(request.correlation_id(), 7);
/// assert!(matches!(request.body, RequestBody::ApiVersions(_)));
/// # Ok::<(), kafkit_protocol::Error>(())
/// ```
pub fn decode_request(frame: Bytes) -> Result<Request> {
    if frame.len() < MIN_REQUEST_HEADER_SIZE {
        return Err(Error::FrameTooShort { size: frame.len() });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|()| Error::UnknownApiKey(raw_key))?;
    let served = versions::is_supported(api_key, version);
    if !served && api_key != ApiKey::ApiVersions {
        return Err(Error::UnsupportedVersion {
            api_key: raw_key,
            version,
        });
    }

    let mut buf = frame;
    let header_version = api_key.request_header_version(version);
    let header = decode_guarded(
        &REQUEST_HEADER,
        header_version,
        &mut buf,
        raw_key,
        version,
        Tags::Strict,
    )?;
    if !served {
        return Ok(Request {
            header,
            body: RequestBody::UnsupportedApiVersions,
        });
    }

    let body = match api_key {
        ApiKey::Produce => RequestBody::Produce(decode_body(&mut buf, api_key, version)?),
        ApiKey::Fetch => RequestBody::Fetch(decode_body(&mut buf, api_key, version)?),
        ApiKey::ListOffsets => RequestBody::ListOffsets(decode_body(&mut buf, api_key, version)?),
        ApiKey::Metadata => RequestBody::Metadata(decode_body(&mut buf, api_key, version)?),
        ApiKey::OffsetCommit => RequestBody::OffsetCommit(decode_body(&mut buf, api_key, version)?),
        ApiKey::OffsetFetch => RequestBody::OffsetFetch(decode_body(&mut buf, api_key, version)?),
        ApiKey::FindCoordinator => RequestBody::FindCoordinator(decode_body(&mut buf, api_key, version)?),
        ApiKey::JoinGroup => RequestBody::JoinGroup(decode_body(&mut buf, api_key, version)?),
        ApiKey::Heartbeat => RequestBody::Heartbeat(decode_body(&mut buf, api_key, version)?),
        ApiKey::LeaveGroup => RequestBody::LeaveGroup(decode_body(&mut buf, api_key, version)?),
        ApiKey::SyncGroup => RequestBody::SyncGroup(decode_body(&mut buf, api_key, version)?),
        ApiKey::DescribeGroups => RequestBody::DescribeGroups(decode_body(&mut buf, api_key, version)?),
        ApiKey::ListGroups => RequestBody::ListGroups(decode_body(&mut buf, api_key, version)?),
        ApiKey::ApiVersions => RequestBody::ApiVersions(decode_body(&mut buf, api_key, version)?),
        ApiKey::CreateTopics => RequestBody::CreateTopics(decode_body(&mut buf, api_key, version)?),
        ApiKey::DeleteTopics => RequestBody::DeleteTopics(decode_body(&mut buf, api_key, version)?),
        ApiKey::InitProducerId => RequestBody::InitProducerId(decode_body(&mut buf, api_key, version)?),
        ApiKey::AddPartitionsToTxn => {
            RequestBody::AddPartitionsToTxn(decode_body(&mut buf, api_key, version)?)
        }
        ApiKey::EndTxn => RequestBody::EndTxn(decode_body(&mut buf, api_key, version)?),
        ApiKey::AddOffsetsToTxn => RequestBody::AddOffsetsToTxn(decode_body(&mut buf, api_key, version)?),
        ApiKey::TxnOffsetCommit => RequestBody::TxnOffsetCommit(decode_body(&mut buf, api_key, version)?),
        ApiKey::SaslHandshake => RequestBody::SaslHandshake(decode_body(&mut buf, api_key, version)?),
        ApiKey::SaslAuthenticate => RequestBody::SaslAuthenticate(decode_body(&mut buf, api_key, version)?),
        ApiKey::CreatePartitions => RequestBody::CreatePartitions(decode_body(&mut buf, api_key, version)?),
        ApiKey::DeleteGroups => RequestBody::DeleteGroups(decode_body(&mut buf, api_key, version)?),
        ApiKey::OffsetDelete => RequestBody::OffsetDelete(decode_body(&mut buf, api_key, version)?),
        ApiKey::DescribeTransactions => {
            RequestBody::DescribeTransactions(decode_body(&mut buf, api_key, version)?)
        }
        ApiKey::ListTransactions => RequestBody::ListTransactions(decode_body(&mut buf, api_key, version)?),
        ApiKey::ConsumerGroupHeartbeat => {
            RequestBody::ConsumerGroupHeartbeat(decode_body(&mut buf, api_key, version)?)
        }
        ApiKey::ConsumerGroupDescribe => {
            RequestBody::ConsumerGroupDescribe(decode_body(&mut buf, api_key, version)?)
        }
        // Invariant: every API in versions::SUPPORTED_APIS has an arm above (tested).
        _ => {
            return Err(Error::UnsupportedVersion {
                api_key: raw_key,
                version,
            })
        }
    };
    Ok(Request { header, body })
}

fn decode_body<T: Decodable>(buf: &mut Bytes, api_key: ApiKey, version: i16) -> Result<T> {
    // Invariant: every served API has a request shape (tested); without one we refuse.
    let shape = request_shape(api_key).ok_or(Error::UnsupportedVersion {
        api_key: api_key as i16,
        version,
    })?;
    decode_guarded(shape, version, buf, api_key as i16, version, Tags::Strict)
}

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_request_frame, request_header, split_frame};
    use crate::wire_shape::walk;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::Encodable;
    use proptest::prelude::*;
    use rstest::rstest;

    /// Every served (api key, version).
    fn served() -> impl Iterator<Item = (ApiKey, i16)> {
        versions::SUPPORTED_APIS
            .iter()
            .flat_map(|r| (r.min..=r.max).map(move |v| (r.api_key, v)))
    }

    fn header_for(api_key: ApiKey, version: i16) -> RequestHeader {
        let header = request_header(api_key, version, 0x0102_0304, Some("kafkit-test"));
        if api_key.request_header_version(version) >= 2 {
            header.with_unknown_tagged_field(7, Bytes::from_static(b"hdr"))
        } else {
            header
        }
    }

    /// A whole frame (without its length prefix) for `body`.
    fn frame(header: &RequestHeader, body: &RequestBody) -> Bytes {
        let mut dst = BytesMut::new();
        let encoded = match body {
            RequestBody::Produce(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::Fetch(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ListOffsets(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::Metadata(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::OffsetCommit(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::OffsetFetch(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::FindCoordinator(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::JoinGroup(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::Heartbeat(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::LeaveGroup(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::SyncGroup(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::DescribeGroups(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ListGroups(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ApiVersions(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::CreateTopics(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::DeleteTopics(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::InitProducerId(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::AddPartitionsToTxn(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::EndTxn(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::AddOffsetsToTxn(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::TxnOffsetCommit(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::SaslHandshake(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::SaslAuthenticate(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::CreatePartitions(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::DeleteGroups(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::OffsetDelete(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::DescribeTransactions(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ListTransactions(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ConsumerGroupHeartbeat(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::ConsumerGroupDescribe(b) => encode_request_frame(&mut dst, header, b),
            RequestBody::UnsupportedApiVersions => unreachable!("not encodable"),
        };
        encoded.expect("the crate encodes the sample");
        split_frame(&mut dst, usize::MAX)
            .expect("valid")
            .expect("complete")
    }

    fn sample_frame(api_key: ApiKey, version: i16) -> Bytes {
        frame(&header_for(api_key, version), &samples::request(api_key, version))
    }

    #[test]
    fn every_served_api_has_a_body_variant_and_a_shape() {
        for (api_key, version) in served() {
            assert_eq!(samples::request(api_key, version).api_key(), api_key);
            assert!(request_shape(api_key).is_some(), "{api_key:?}");
        }
    }

    /// The walker and the crate agree on every served version: a non-trivial request encoded by
    /// the crate is walked to its last byte and decodes back to itself.
    #[test]
    fn every_served_version_round_trips() {
        for (api_key, version) in served() {
            let header = header_for(api_key, version);
            let body = samples::request(api_key, version);
            let frame = frame(&header, &body);

            let header_size = header.compute_size(api_key.request_header_version(version));
            let body_bytes = &frame[header_size.expect("size")..];
            let shape = request_shape(api_key).expect("shape");
            let walked = walk(shape, version, body_bytes);
            assert_eq!(walked.ok(), Some(body_bytes.len()), "{api_key:?} v{version}");

            let request = decode_request(frame).unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            assert_eq!(request.header, header, "{api_key:?} v{version}");
            assert_eq!(request.body, body, "{api_key:?} v{version}");
        }
    }

    #[test]
    fn decoding_is_zero_copy() {
        let frame = sample_frame(ApiKey::Produce, 11);
        let range = frame.as_ptr_range();
        let request = decode_request(frame.clone()).expect("decodes");
        let RequestBody::Produce(produce) = request.body else {
            panic!("produce")
        };
        let records = produce.topic_data[0].partition_data[0]
            .records
            .as_ref()
            .expect("records");
        assert!(
            range.contains(&records.as_ptr()),
            "records are a slice of the frame"
        );
    }

    /// Every strict prefix of a valid frame is an error, never a panic.
    #[rstest]
    #[case::produce_v3(ApiKey::Produce, 3)]
    #[case::produce_v11(ApiKey::Produce, 11)]
    #[case::fetch_v12(ApiKey::Fetch, 12)]
    #[case::metadata_v12(ApiKey::Metadata, 12)]
    #[case::create_topics_v7(ApiKey::CreateTopics, 7)]
    #[case::api_versions_v4(ApiKey::ApiVersions, 4)]
    #[case::offset_commit_v2(ApiKey::OffsetCommit, 2)]
    #[case::offset_commit_v9(ApiKey::OffsetCommit, 9)]
    #[case::offset_fetch_v7(ApiKey::OffsetFetch, 7)]
    #[case::offset_fetch_v9(ApiKey::OffsetFetch, 9)]
    #[case::join_group_v5(ApiKey::JoinGroup, 5)]
    #[case::join_group_v9(ApiKey::JoinGroup, 9)]
    #[case::leave_group_v3(ApiKey::LeaveGroup, 3)]
    #[case::leave_group_v5(ApiKey::LeaveGroup, 5)]
    #[case::sync_group_v5(ApiKey::SyncGroup, 5)]
    #[case::describe_groups_v6(ApiKey::DescribeGroups, 6)]
    #[case::offset_delete_v0(ApiKey::OffsetDelete, 0)]
    #[case::sasl_handshake_v1(ApiKey::SaslHandshake, 1)]
    #[case::sasl_authenticate_v2(ApiKey::SaslAuthenticate, 2)]
    #[case::add_partitions_to_txn_v3(ApiKey::AddPartitionsToTxn, 3)]
    #[case::add_partitions_to_txn_v5(ApiKey::AddPartitionsToTxn, 5)]
    #[case::end_txn_v5(ApiKey::EndTxn, 5)]
    #[case::add_offsets_to_txn_v4(ApiKey::AddOffsetsToTxn, 4)]
    #[case::txn_offset_commit_v2(ApiKey::TxnOffsetCommit, 2)]
    #[case::txn_offset_commit_v5(ApiKey::TxnOffsetCommit, 5)]
    #[case::describe_transactions_v0(ApiKey::DescribeTransactions, 0)]
    #[case::list_transactions_v2(ApiKey::ListTransactions, 2)]
    #[case::consumer_group_heartbeat_v0(ApiKey::ConsumerGroupHeartbeat, 0)]
    #[case::consumer_group_heartbeat_v1(ApiKey::ConsumerGroupHeartbeat, 1)]
    #[case::consumer_group_describe_v1(ApiKey::ConsumerGroupDescribe, 1)]
    fn every_truncation_is_an_error(#[case] api_key: ApiKey, #[case] version: i16) {
        let frame = sample_frame(api_key, version);
        for len in 0..frame.len() {
            assert!(
                decode_request(frame.slice(..len)).is_err(),
                "{api_key:?} v{version} cut at {len}"
            );
        }
    }

    fn header_bytes(api_key: i16, version: i16) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.put_i16(api_key);
        buf.put_i16(version);
        buf.put_i32(1);
        buf.put_i16(-1); // null client id
        let header_version = ApiKey::try_from(api_key).map_or(1, |k| k.request_header_version(version));
        if header_version >= 2 {
            buf.put_u8(0); // no tagged fields
        }
        buf
    }

    fn malformed(result: Result<Request>) -> String {
        match result {
            Err(e @ Error::Malformed { .. }) => e.to_string(),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn metadata_v1_body_claiming_2_billion_topics_is_refused() {
        let mut frame = header_bytes(3, 1);
        frame.put_slice(&[0x7f, 0xff, 0xff, 0xff]);
        let error = malformed(decode_request(frame.freeze()));
        assert!(
            error.contains("Metadata request (api key 3, version 1): topics: array of 2147483647 elements"),
            "{error}"
        );
    }

    #[rstest]
    #[case::classic_topics(7, &[0xff, 0xff, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], "topic_data: array")]
    #[case::classic_partitions(7, &[0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff], "topic_data.partition_data: array")]
    #[case::classic_records(3, &[0xff, 0xff, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], "records: 2147483647 bytes declared")]
    #[case::compact_topics(9, &[0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f], "topic_data: array of 4294967294")]
    #[case::compact_partitions(11, &[0, 0, 1, 0, 0, 0, 0, 2, 2, b't', 0xff, 0xff, 0xff, 0xff, 0x07], "topic_data.partition_data: array")]
    #[case::compact_tagged_fields(9, &[0, 0, 1, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f], "_tagged_fields: 4294967295 tagged fields")]
    #[case::negative_string(7, &[0xff, 0xfe], "transactional_id: negative length -2")]
    #[case::overlong_varint(9, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "varint longer than 5 bytes")]
    fn produce_with_hostile_counts_is_refused(
        #[case] version: i16,
        #[case] body: &[u8],
        #[case] expected: &str,
    ) {
        let mut frame = header_bytes(0, version);
        frame.put_slice(body);
        let error = malformed(decode_request(frame.freeze()));
        assert!(error.contains(expected), "{error}");
    }

    /// The group APIs are walked like the others before the crate reserves anything.
    #[rstest]
    #[case::join_group_v0_protocols(11, 0, &[0, 1, b'g', 0, 0, 0x75, 0x30, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff], "JoinGroup request (api key 11, version 0): protocols: array of 2147483647")]
    #[case::join_group_v6_metadata(11, 6, &[2, b'g', 0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30, 1, 0, 1, 2, 2, b'r', 0xff, 0xff, 0xff, 0xff, 0x0f], "protocols.metadata: 4294967294 bytes declared")]
    #[case::offset_fetch_v8_groups(9, 8, &[0xff, 0xff, 0xff, 0xff, 0x0f], "OffsetFetch request (api key 9, version 8): groups: array of 4294967294")]
    #[case::offset_commit_v2_partitions(8, 2, &[0, 1, b'g', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff, 0xff], "topics.partitions: array of 2147483647")]
    #[case::describe_groups_v0_groups(15, 0, &[0x7f, 0xff, 0xff, 0xff], "groups: array of 2147483647")]
    #[case::offset_delete_v0_topics(47, 0, &[0, 1, b'g', 0x7f, 0xff, 0xff, 0xff], "topics: array of 2147483647")]
    fn group_requests_with_hostile_counts_are_refused(
        #[case] api_key: i16,
        #[case] version: i16,
        #[case] body: &[u8],
        #[case] expected: &str,
    ) {
        let mut frame = header_bytes(api_key, version);
        frame.put_slice(body);
        let error = malformed(decode_request(frame.freeze()));
        assert!(error.contains(expected), "{error}");
    }

    /// A length prefix announcing 0 to 9 bytes passes framing but cannot hold a header; the
    /// crate's own header decoder would panic on fewer than 4.
    #[test]
    fn frames_shorter_than_a_header_are_refused() {
        for len in 0..MIN_REQUEST_HEADER_SIZE {
            let mut buf = BytesMut::new();
            buf.put_i32(len as i32);
            buf.put_bytes(0, len);
            let frame = split_frame(&mut buf, 1024).expect("valid").expect("complete");
            let result = decode_request(frame);
            assert!(
                matches!(result, Err(Error::FrameTooShort { size }) if size == len),
                "{len}"
            );
        }
    }

    #[test]
    fn a_header_whose_client_id_runs_past_the_frame_is_refused() {
        let frame = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff]);
        let error = malformed(decode_request(frame));
        assert!(
            error.contains("request header (api key 3, version 1): client_id: 32767 bytes declared"),
            "{error}"
        );
    }

    #[rstest]
    #[case::unknown_key(1000, 0, "unknown api key 1000")]
    #[case::negative_key(-1, 0, "unknown api key -1")]
    #[case::not_served_key(21, 0, "api key 21 version 0 is not supported")]
    #[case::offset_commit_v1(8, 1, "api key 8 version 1 is not supported")]
    #[case::offset_commit_v10(8, 10, "api key 8 version 10 is not supported")]
    #[case::offset_fetch_v0(9, 0, "api key 9 version 0 is not supported")]
    #[case::produce_v2(0, 2, "api key 0 version 2 is not supported")]
    #[case::produce_v14(0, 14, "api key 0 version 14 is not supported")]
    #[case::metadata_v14(3, 14, "api key 3 version 14 is not supported")]
    #[case::metadata_negative(3, -1, "api key 3 version -1 is not supported")]
    fn unknown_keys_and_unserved_versions_are_refused(
        #[case] api_key: i16,
        #[case] version: i16,
        #[case] expected: &str,
    ) {
        let frame = header_bytes(api_key, version).freeze();
        let error = decode_request(frame).expect_err("refused");
        assert_eq!(error.to_string(), expected);
    }

    #[rstest]
    #[case::v5_header_v2(5, true)]
    #[case::v127_header_v2(127, true)]
    #[case::negative_header_v1(-1, false)]
    fn api_versions_at_an_unserved_version_parses_only_the_header(
        #[case] version: i16,
        #[case] header_v2: bool,
    ) {
        let mut frame = BytesMut::new();
        frame.put_slice(&[0, 18]);
        frame.put_i16(version);
        frame.put_slice(&[0, 0, 0, 42, 0, 3, b'c', b'l', b'i']);
        if header_v2 {
            frame.put_u8(0);
        }
        frame.put_slice(&[0xde, 0xad, 0x7f, 0xff, 0xff, 0xff]); // a body we do not understand
        let request = decode_request(frame.freeze()).expect("KIP-511 path");
        assert_eq!(request.body, RequestBody::UnsupportedApiVersions);
        assert_eq!((request.correlation_id(), request.version()), (42, version));
        assert_eq!(request.header.client_id.as_deref(), Some("cli"));
    }

    #[test]
    fn unserved_api_versions_with_a_broken_header_is_still_malformed() {
        let frame = Bytes::from_static(&[0, 18, 0, 9, 0, 0, 0, 42, 0, 3, b'c']);
        malformed(decode_request(frame));
    }

    fn served_strategy() -> impl Strategy<Value = (ApiKey, i16)> {
        proptest::sample::select(served().collect::<Vec<_>>())
    }

    proptest! {
        /// Random bytes after a valid header never panic, whatever the API and version.
        #[test]
        fn random_bodies_never_panic(
            (api_key, version) in served_strategy(),
            body in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut dst = BytesMut::new();
            let header = header_for(api_key, version);
            header.encode(&mut dst, api_key.request_header_version(version)).expect("header");
            dst.put_slice(&body);
            let _ = decode_request(dst.freeze());
        }

        /// Random corruption of a valid frame never panics.
        #[test]
        fn corrupted_frames_never_panic(
            (api_key, version) in served_strategy(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut frame = BytesMut::from(&sample_frame(api_key, version)[..]);
            for (index, byte) in flips {
                let i = index.index(frame.len());
                frame[i] = byte;
            }
            let _ = decode_request(frame.freeze());
        }
    }
}
